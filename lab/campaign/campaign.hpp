// lab/campaign/campaign.hpp — a campaign with a participant limit and one application per user
// (the SQLAlchemy chapter's example), on SQLite or PostgreSQL.
//
//   unsafe        count; check; insert                       (over the limit, or a user twice)
//   mutex         under an in-process lock
//   pessimistic   lock the campaign row (FOR UPDATE / BEGIN IMMEDIATE), then count, check, insert
//   nowait        the same, DbBusy at once when locked (applicants retry)
//   optimistic    bump the campaign's version with a compare-and-set; retry on 0 rows
//   atomic        UPDATE campaigns SET participants = participants + 1 WHERE … < max_participants,
//                 which also serialises applicants, then insert if the user is not there yet
//   constraint    UNIQUE (campaign_id, user_id) and CHECK (participants <= max_participants)
//   serializable  SERIALIZABLE transaction, retry on conflict
//
// Closing the campaign races with joining it: close() marks it closed and records its final roster
// (`closed_with`), join() adds a user while it is open (no limit: a sign-up list). The invariant:
// once closed, the roster is final — every application counted in closed_with, none after.
//   unsafe        join: read `open`, then insert (an insert lands after the close committed)
//   mutex         join and close under one in-process lock
//   pessimistic   join: BEGIN; SELECT open … FOR SHARE (MariaDB: LOCK IN SHARE MODE); insert; COMMIT.
//                 A shared lock is the right one: joiners hold it together and never wait for each
//                 other, while close()'s UPDATE waits until every joiner holding it has committed
//                 (and then counts them), and a joiner after the close reads it closed. (FOR SHARE
//                 would not do for apply()'s limit: two sharers can both pass a count check.)
//                 SQLite: BEGIN IMMEDIATE, one writer at a time.
//   nowait        the same with NOWAIT: DbBusy at once while the campaign row is being closed
//   serializable  both in SERIALIZABLE transactions, retry on conflict
//   optimistic, atomic, constraint: StrategyNotApplicable for join (see join()).
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>

#include "common/db.hpp"
#include "common/strategy.hpp"

namespace lab::campaign {

class CampaignFull : public std::runtime_error {
 public:
  CampaignFull() : std::runtime_error("the campaign is full") {}
};
class AlreadyApplied : public std::runtime_error {
 public:
  explicit AlreadyApplied(const std::string& user)
      : std::runtime_error("'" + user + "' has already applied") {}
};

class CampaignClosed : public std::runtime_error {
 public:
  CampaignClosed() : std::runtime_error("the campaign is closed") {}
};

class Campaigns {
 public:
  explicit Campaigns(Db& db) : db_(db) {}
  static void reset(Db& db, Strategy strategy, std::int64_t max_participants);
  // Throws CampaignFull, AlreadyApplied, DbBusy (nowait), DbConflict (retries spent).
  void apply(const std::string& user, Strategy strategy);
  std::int64_t applications();
  std::int64_t distinct_users();
  std::int64_t max_participants();
  // Opens the campaign again with no applications (between test iterations).
  static void reopen(Db& db);
  // Throws CampaignClosed, DbBusy (nowait), DbConflict (retries spent), StrategyNotApplicable.
  void join(const std::string& user, Strategy strategy);
  // Closes the campaign and records its final roster size, which it returns.
  std::int64_t close(Strategy strategy);
  // The roster size close() recorded; nullopt while open.
  std::optional<std::int64_t> closed_with();

 private:
  void checked_insert(const std::string& user);  // count, check, insert, bump: the unsafe core
  void close_in_transaction(TxMode mode);
  Db& db_;
};

}  // namespace lab::campaign
