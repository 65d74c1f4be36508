#include "counter/counter.hpp"

#include <racelab/point.hpp>
#include <thread>

namespace lab::counter {

SqliteCounter::SqliteCounter(const std::string& path)
    : db_(racelab::sqlite::Connection::open(path, {.wal = true})) {
  db_.exec(
      "CREATE TABLE IF NOT EXISTS counter(id INTEGER PRIMARY KEY, count INTEGER NOT NULL);"
      "CREATE TABLE IF NOT EXISTS locks(name TEXT PRIMARY KEY);"
      "INSERT OR IGNORE INTO counter(id, count) VALUES (1, 0);");
}

void SqliteCounter::reset() { db_.exec("UPDATE counter SET count = 0 WHERE id = 1; DELETE FROM locks;"); }

std::int64_t SqliteCounter::get_count() {
  return db_.query_int64("SELECT count FROM counter WHERE id = 1").value();
}

void SqliteCounter::set_count(std::int64_t count) {
  db_.run("UPDATE counter SET count = ? WHERE id = 1", count);
}

void SqliteCounter::acquire_lock() {
  try {
    db_.run("INSERT INTO locks(name) VALUES ('counter')");
  } catch (const racelab::sqlite::ConstraintViolation&) {
    throw CouldNotLock();
  }
}

void SqliteCounter::release_lock() { db_.run("DELETE FROM locks WHERE name = 'counter'"); }

std::int64_t increment(SqliteCounter& db) {
  std::int64_t count = RACELAB_CALL("counter.get_count", db.get_count());
  std::int64_t next = count + 1;
  RACELAB_CALL("counter.set_count", db.set_count(next));
  return next;
}

std::int64_t locking_increment(SqliteCounter& db) {
  RACELAB_POINT("counter.lock_attempt");
  try {
    db.acquire_lock();
  } catch (const CouldNotLock&) {
    RACELAB_POINT("counter.lock_busy");
    throw;
  }
  RACELAB_POINT("counter.lock_acquired");
  std::int64_t result = 0;
  try {
    result = increment(db);
  } catch (...) {
    db.release_lock();
    throw;
  }
  RACELAB_POINT("counter.lock_release");
  db.release_lock();
  return result;
}

std::int64_t retrying_locking_increment(SqliteCounter& db, int tries, std::chrono::milliseconds backoff) {
  for (int attempt = 1;; ++attempt) {
    try {
      return locking_increment(db);
    } catch (const CouldNotLock&) {
      if (attempt >= tries) throw;
      std::this_thread::sleep_for(backoff * attempt);
    }
  }
}

}  // namespace lab::counter
