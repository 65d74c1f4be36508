#include "counter/sql_counter.hpp"

#include <racelab/point.hpp>

#include "common/sql_strategy.hpp"

namespace lab::counter {

void SqlCounter::reset(Db& db) {
  db.script(
      "DROP TABLE IF EXISTS counters;"
      "CREATE TABLE counters(id INTEGER PRIMARY KEY, n BIGINT NOT NULL, version BIGINT NOT NULL DEFAULT 0);"
      "INSERT INTO counters(id, n) VALUES (1, 0);");
}

std::int64_t SqlCounter::value() {
  return db_.query_int64("SELECT n FROM counters WHERE id = 1", {}).value();
}

std::int64_t SqlCounter::read_write(TxMode mode, bool lock, Strategy strategy) {
  NoWait nowait(db_, strategy == Strategy::nowait);
  Tx tx(db_, mode);
  auto n =
      db_.query_int64(
             std::string("SELECT n FROM counters WHERE id = 1") + (lock ? row_lock(db_, strategy) : ""), {})
          .value();
  RACELAB_POINT("counter.after_locked_read");
  db_.run("UPDATE counters SET n = ? WHERE id = 1", {n + 1});
  tx.commit();
  return n + 1;
}

std::int64_t SqlCounter::increment(Strategy strategy) {
  switch (strategy) {
    case Strategy::unsafe: {
      auto n = value();
      RACELAB_POINT("counter.after_read");
      db_.run("UPDATE counters SET n = ? WHERE id = 1", {n + 1});
      return n + 1;
    }
    case Strategy::mutex: {
      RACELAB_POINT("counter.after_read");
      std::lock_guard lock(process_lock("counter"));
      auto n = value();
      db_.run("UPDATE counters SET n = ? WHERE id = 1", {n + 1});
      return n + 1;
    }
    case Strategy::pessimistic:
    case Strategy::nowait:
      RACELAB_POINT("counter.after_read");
      return read_write(TxMode::write, true, strategy);
    case Strategy::serializable:
      RACELAB_POINT("counter.after_read");
      return with_retries(20, [&] { return read_write(TxMode::serializable, false, strategy); });
    case Strategy::optimistic:
      for (int attempt = 1;; ++attempt) {
        // The version first: a value read after it is at least as new, so a stale pair fails the CAS.
        auto version = db_.query_int64("SELECT version FROM counters WHERE id = 1", {}).value();
        auto n = value();
        RACELAB_POINT("counter.after_read");
        if (db_.run("UPDATE counters SET n = ?, version = version + 1 WHERE id = 1 AND version = ?",
                    {n + 1, version}) == 1)
          return n + 1;
        if (attempt >= 50) throw DbConflict("optimistic increment: gave up after 50 attempts");
        backoff(attempt);
      }
    case Strategy::atomic: {
      RACELAB_POINT("counter.after_read");
      return db_.query_int64("UPDATE counters SET n = n + 1 WHERE id = 1 RETURNING n", {}).value();
    }
    case Strategy::constraint: break;
  }
  throw StrategyNotApplicable(strategy, "the counter (no constraint can say an increment was lost)");
}

}  // namespace lab::counter
