#include "campaign/campaign.hpp"

#include <racelab/point.hpp>

#include "common/sql_strategy.hpp"

namespace lab::campaign {

void Campaigns::reset(Db& db, Strategy strategy, std::int64_t max_participants) {
  const bool constraint = strategy == Strategy::constraint;
  db.script(std::string("DROP TABLE IF EXISTS applications; DROP TABLE IF EXISTS campaigns;"
                        "CREATE TABLE campaigns(id INTEGER PRIMARY KEY, max_participants BIGINT NOT NULL,"
                        " participants BIGINT NOT NULL DEFAULT 0, version BIGINT NOT NULL DEFAULT 0,"
                        " open INTEGER NOT NULL DEFAULT 1, closed_with BIGINT") +
            (constraint ? ", CHECK (participants <= max_participants)" : "") +
            ");"
            "CREATE TABLE applications(campaign_id INTEGER NOT NULL, user_id " +
            key_text(db) + " NOT NULL" + (constraint ? ", UNIQUE (campaign_id, user_id)" : "") + ");");
  db.run("INSERT INTO campaigns(id, max_participants) VALUES (1, ?)", {max_participants});
}

std::int64_t Campaigns::applications() {
  return db_.query_int64("SELECT count(*) FROM applications WHERE campaign_id = 1", {}).value();
}
std::int64_t Campaigns::distinct_users() {
  return db_.query_int64("SELECT count(DISTINCT user_id) FROM applications WHERE campaign_id = 1", {})
      .value();
}
std::int64_t Campaigns::max_participants() {
  return db_.query_int64("SELECT max_participants FROM campaigns WHERE id = 1", {}).value();
}

void Campaigns::checked_insert(const std::string& user) {
  if (db_.query_int64("SELECT count(*) FROM applications WHERE campaign_id = 1 AND user_id = ?", {user})
          .value() > 0)
    throw AlreadyApplied(user);
  if (applications() >= max_participants()) throw CampaignFull();
  RACELAB_POINT("campaign.after_locked_count");
  db_.run("INSERT INTO applications(campaign_id, user_id) VALUES (1, ?)", {user});
  db_.run("UPDATE campaigns SET participants = participants + 1 WHERE id = 1", {});
}

void Campaigns::apply(const std::string& user, Strategy strategy) {
  // The check's first look, outside any lock: the window opens here for every strategy.
  const bool seen_user =
      db_.query_int64("SELECT count(*) FROM applications WHERE campaign_id = 1 AND user_id = ?", {user})
          .value() > 0;
  const bool seen_full = applications() >= max_participants();
  RACELAB_POINT("campaign.after_count");
  switch (strategy) {
    case Strategy::unsafe:
      if (seen_user) throw AlreadyApplied(user);
      if (seen_full) throw CampaignFull();
      db_.run("INSERT INTO applications(campaign_id, user_id) VALUES (1, ?)", {user});
      db_.run("UPDATE campaigns SET participants = participants + 1 WHERE id = 1", {});
      return;
    case Strategy::mutex: {
      std::lock_guard lock(process_lock("campaign"));
      return checked_insert(user);
    }
    case Strategy::pessimistic:
    case Strategy::nowait: {
      NoWait nowait(db_, strategy == Strategy::nowait);
      Tx tx(db_, TxMode::write);
      db_.query_int64(std::string("SELECT id FROM campaigns WHERE id = 1") + row_lock(db_, strategy), {});
      checked_insert(user);
      tx.commit();
      return;
    }
    case Strategy::serializable:
      return with_retries(30, [&] {
        Tx tx(db_, TxMode::serializable);
        checked_insert(user);
        tx.commit();
      });
    case Strategy::optimistic:
      // Compare-and-set on the campaign's version; a lost race (0 rows, or the database's own
      // conflict) rolls back and tries again.
      return with_retries(50, [&] {
        auto version = db_.query_int64("SELECT version FROM campaigns WHERE id = 1", {}).value();
        Tx tx(db_, TxMode::read);
        checked_insert(user);
        if (db_.run("UPDATE campaigns SET version = version + 1 WHERE id = 1 AND version = ?", {version}) !=
            1)
          throw DbConflict("campaign version changed");
        tx.commit();
      });
    case Strategy::atomic: {
      Tx tx(db_, TxMode::write);
      if (db_.run("UPDATE campaigns SET participants = participants + 1 WHERE id = 1 AND participants < "
                  "max_participants",
                  {}) == 0)
        throw CampaignFull();
      if (db_.run("INSERT INTO applications(campaign_id, user_id) SELECT 1, ? WHERE NOT EXISTS "
                  "(SELECT 1 FROM applications WHERE campaign_id = 1 AND user_id = ?)",
                  {user, user}) == 0)
        throw AlreadyApplied(user);
      tx.commit();
      return;
    }
    case Strategy::constraint: {
      Tx tx(db_, TxMode::read);
      try {
        db_.run("INSERT INTO applications(campaign_id, user_id) VALUES (1, ?)", {user});
      } catch (const DbConstraint&) {
        throw AlreadyApplied(user);
      }
      try {
        db_.run("UPDATE campaigns SET participants = participants + 1 WHERE id = 1", {});
      } catch (const DbConstraint&) {
        throw CampaignFull();
      }
      tx.commit();
      return;
    }
  }
}

void Campaigns::reopen(Db& db) {
  db.run("DELETE FROM applications", {});
  db.run("UPDATE campaigns SET participants = 0, version = 0, open = 1, closed_with = NULL", {});
}

std::optional<std::int64_t> Campaigns::closed_with() {
  return db_.query_int64("SELECT closed_with FROM campaigns WHERE id = 1", {});
}

void Campaigns::join(const std::string& user, Strategy strategy) {
  // The check's first look, outside any lock: the window opens here for every strategy.
  const bool seen_open = db_.query_int64("SELECT open FROM campaigns WHERE id = 1", {}).value() == 1;
  RACELAB_POINT("campaign.after_open_check");
  auto insert = [&] { db_.run("INSERT INTO applications(campaign_id, user_id) VALUES (1, ?)", {user}); };
  switch (strategy) {
    case Strategy::unsafe:
      if (!seen_open) throw CampaignClosed();
      return insert();
    case Strategy::mutex: {
      std::lock_guard lock(process_lock("campaign.roster"));
      if (db_.query_int64("SELECT open FROM campaigns WHERE id = 1", {}).value() != 1) throw CampaignClosed();
      return insert();
    }
    case Strategy::pessimistic:
    case Strategy::nowait: {
      NoWait nowait(db_, strategy == Strategy::nowait);
      Tx tx(db_, TxMode::write);
      const auto open = db_.query_int64(
          std::string("SELECT open FROM campaigns WHERE id = 1") + share_lock(db_, strategy), {});
      // Inside the shared lock: other joiners may be here at the same time, a closer may not.
      RACELAB_POINT("campaign.after_shared_read");
      if (open.value() != 1) throw CampaignClosed();
      insert();
      tx.commit();
      return;
    }
    case Strategy::serializable:
      return with_retries(30, [&] {
        Tx tx(db_, TxMode::serializable);
        if (db_.query_int64("SELECT open FROM campaigns WHERE id = 1", {}).value() != 1)
          throw CampaignClosed();
        insert();
        tx.commit();
      });
    case Strategy::optimistic:
    case Strategy::atomic:
    case Strategy::constraint: break;
  }
  throw StrategyNotApplicable(strategy,
                              "joining a campaign that may be closed (a compare-and-set or conditional "
                              "write on the campaign row would serialise the joiners, which is FOR "
                              "UPDATE's job: the shared lock of `pessimistic` is the fit; no constraint "
                              "sees the close)");
}

// The UPDATE takes the campaign row's exclusive lock, so it waits for every joiner holding the
// shared one; the count after it then sees their applications (PostgreSQL READ COMMITTED: a new
// statement, a new snapshot; MariaDB REPEATABLE READ: the snapshot is taken at the transaction's
// first plain read, which is this count, after the lock).
void Campaigns::close_in_transaction(TxMode mode) {
  Tx tx(db_, mode);
  db_.run("UPDATE campaigns SET open = 0 WHERE id = 1", {});
  RACELAB_POINT("campaign.after_close");
  const auto n = applications();
  db_.run("UPDATE campaigns SET closed_with = ? WHERE id = 1", {n});
  tx.commit();
}

std::int64_t Campaigns::close(Strategy strategy) {
  switch (strategy) {
    case Strategy::mutex: {
      std::lock_guard lock(process_lock("campaign.roster"));
      close_in_transaction(TxMode::write);
      break;
    }
    case Strategy::serializable: with_retries(30, [&] { close_in_transaction(TxMode::serializable); }); break;
    case Strategy::nowait: {
      NoWait nowait(db_, true);
      close_in_transaction(TxMode::write);
      break;
    }
    default: close_in_transaction(TxMode::write); break;
  }
  return closed_with().value();
}

}  // namespace lab::campaign
