#include "counter/sql_counter.hpp"

#include <optional>

#include <racelab/point.hpp>

#include "common/sql_strategy.hpp"

namespace lab::counter {
namespace {

constexpr const char* kRead = "SELECT n FROM counters WHERE id = 1";
constexpr const char* kWrite = "UPDATE counters SET n = ? WHERE id = 1";
constexpr const char* kAtomic = "UPDATE counters SET n = n + 1 WHERE id = 1 RETURNING n";

}  // namespace

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
  Recorded op(history_, name_);
  Tx tx(db_, mode);
  auto n = db_.query_int64(std::string(kRead) + (lock ? row_lock(db_, strategy) : ""), {}).value();
  op.read("counters", "1", n, kRead);
  RACELAB_POINT("counter.after_locked_read");
  db_.run(kWrite, {n + 1});
  op.write("counters", "1", n + 1, kWrite);
  tx.commit();
  op.commit();
  return n + 1;
}

// One UPDATE that adds 1 and yields the value it wrote. MariaDB has no UPDATE … RETURNING: there
// the UPDATE hands its new value to the connection's LAST_INSERT_ID(expr) (MySQL's documented
// idiom for counters), read back by the next statement on the same connection, with no transaction.
std::int64_t SqlCounter::atomic_increment() {
  if (db_.backend() != Backend::mariadb) return db_.query_int64(kAtomic, {}).value();
  db_.run("UPDATE counters SET n = LAST_INSERT_ID(n + 1) WHERE id = 1", {});
  return db_.query_int64("SELECT LAST_INSERT_ID()", {}).value();
}

// Read n, then write n + 1, recorded as one transaction (the increment), under `lock` if given.
std::int64_t SqlCounter::read_then_write(racelab::mutex* lock) {
  Recorded op(history_, name_);
  std::unique_lock held = lock ? std::unique_lock(*lock) : std::unique_lock<racelab::mutex>();
  auto n = value();
  op.read("counters", "1", n, kRead);
  if (!lock) RACELAB_POINT("counter.after_read");
  db_.run(kWrite, {n + 1});
  op.write("counters", "1", n + 1, kWrite);
  op.commit();
  return n + 1;
}

std::int64_t SqlCounter::increment(Strategy strategy) {
  switch (strategy) {
    case Strategy::unsafe: return read_then_write(nullptr);
    case Strategy::mutex:
      RACELAB_POINT("counter.after_read");
      return read_then_write(&process_lock("counter"));
    case Strategy::pessimistic:
    case Strategy::nowait:
      RACELAB_POINT("counter.after_read");
      return read_write(TxMode::write, true, strategy);
    case Strategy::serializable:
      RACELAB_POINT("counter.after_read");
      return with_retries(20, [&] { return read_write(TxMode::serializable, false, strategy); });
    case Strategy::optimistic:
      for (int attempt = 1;; ++attempt) {
        Recorded op(history_, name_);
        // The version first: a value read after it is at least as new, so a stale pair fails the CAS.
        auto version = db_.query_int64("SELECT version FROM counters WHERE id = 1", {}).value();
        auto n = value();
        op.read("counters", "1", n, kRead);
        RACELAB_POINT("counter.after_read");
        if (db_.run("UPDATE counters SET n = ?, version = version + 1 WHERE id = 1 AND version = ?",
                    {n + 1, version}) == 1) {
          op.write("counters", "1", n + 1,
                   "UPDATE counters SET n = ?, version = version + 1 WHERE … version = ?");
          op.commit();
          return n + 1;
        }
        if (attempt >= 50) throw DbConflict("optimistic increment: gave up after 50 attempts");
        backoff(attempt);
      }
    case Strategy::atomic: {
      RACELAB_POINT("counter.after_read");
      Recorded op(history_, name_);
      // MariaDB learns the new value from a second statement (LAST_INSERT_ID()), so another
      // increment could run between the two; a transaction keeps the row locked until the
      // increment is recorded, so the history's order of writes is the database's.
      std::optional<Tx> tx;
      if (db_.backend() == Backend::mariadb) tx.emplace(db_, TxMode::read);
      const std::int64_t n = atomic_increment();
      // One statement reads and writes: the value it replaced, then its own.
      op.read("counters", "1", n - 1, kAtomic);
      op.write("counters", "1", n, kAtomic);
      if (tx) tx->commit();
      op.commit();
      return n;
    }
    case Strategy::constraint: break;
  }
  throw StrategyNotApplicable(strategy, "the counter (no constraint can say an increment was lost)");
}

}  // namespace lab::counter
