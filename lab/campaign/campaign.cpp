#include "campaign/campaign.hpp"

#include <racelab/point.hpp>

#include "common/sql_strategy.hpp"

namespace lab::campaign {

void Campaigns::reset(Db& db, Strategy strategy, std::int64_t max_participants) {
  const bool constraint = strategy == Strategy::constraint;
  db.script(std::string("DROP TABLE IF EXISTS applications; DROP TABLE IF EXISTS campaigns;"
                        "CREATE TABLE campaigns(id INTEGER PRIMARY KEY, max_participants BIGINT NOT NULL,"
                        " participants BIGINT NOT NULL DEFAULT 0, version BIGINT NOT NULL DEFAULT 0") +
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

}  // namespace lab::campaign
