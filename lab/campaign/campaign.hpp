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
#pragma once

#include <cstdint>
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

class Campaigns {
 public:
  explicit Campaigns(Db& db) : db_(db) {}
  static void reset(Db& db, Strategy strategy, std::int64_t max_participants);
  // Throws CampaignFull, AlreadyApplied, DbBusy (nowait), DbConflict (retries spent).
  void apply(const std::string& user, Strategy strategy);
  std::int64_t applications();
  std::int64_t distinct_users();
  std::int64_t max_participants();

 private:
  void checked_insert(const std::string& user);  // count, check, insert, bump: the unsafe core
  Db& db_;
};

}  // namespace lab::campaign
