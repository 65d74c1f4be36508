// lab/counter/counter.hpp — "Incrmnt": a global counter on SQLite that loses updates.
//
// `increment` reads the count, adds one and writes it back: two of them interleaved lose one
// update. `locking_increment` guards it with a lock row (another process's holder counts too) and
// throws CouldNotLock when the lock is held; `retrying_locking_increment` retries a bounded number
// of times. The read is `RACELAB_CALL("counter.get_count", …)`, so a test can run code right after
// it, as Python's before_after does.
//
//   lab::counter::SqliteCounter db("counter.db");
//   racelab::Hooks hooks;
//   hooks.after("counter.get_count", [&] { lab::counter::increment(db); });
//   lab::counter::increment(db);   // the hook's increment runs inside this one
//   assert(db.get_count() == 1);   // not 2: an update was lost
#pragma once

#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <string>

#include <racelab/db/sqlite.hpp>

namespace lab::counter {

class CouldNotLock : public std::runtime_error {
 public:
  CouldNotLock() : std::runtime_error("could not lock the counter: another increment holds it") {}
};

// One connection to the counter database; open one per thread. Creates the schema if needed.
class SqliteCounter {
 public:
  explicit SqliteCounter(const std::string& path);
  void reset();  // count 0, lock free
  std::int64_t get_count();
  void set_count(std::int64_t count);
  void acquire_lock();  // throws CouldNotLock if any connection holds it
  void release_lock();

 private:
  racelab::sqlite::Connection db_;
};

std::int64_t increment(SqliteCounter& db);
std::int64_t locking_increment(SqliteCounter& db);
std::int64_t retrying_locking_increment(SqliteCounter& db, int tries = 5,
                                        std::chrono::milliseconds backoff = std::chrono::milliseconds(2));

}  // namespace lab::counter
