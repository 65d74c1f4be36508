// Incrmnt on SQLite: the lost update reproduced in one thread with an `after` hook (as
// before_after does), the lock that turns it into CouldNotLock, and the retry that makes both
// increments count, proven with two real threads ordered into the held lock.
#include "counter/counter.hpp"

#include <racelab/hooks.hpp>

#include <gtest/gtest.h>

#include <filesystem>
#include <thread>

using namespace lab::counter;

namespace {

std::string fresh_db(const std::string& name) {
  auto path = std::filesystem::temp_directory_path() / ("racelab_" + name + ".db");
  for (auto suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path.string() + suffix);
  return path.string();
}

}  // namespace

// The whole second increment runs right after the first one's read: the count ends at 1, not 2.
TEST(Counter, UnsafeIncrementLosesAnUpdate) {
  SqliteCounter db(fresh_db("counter_unsafe"));
  racelab::Hooks hooks;
  hooks.after("counter.get_count", [&] { increment(db); });
  increment(db);
  hooks.expect_hit("counter.get_count:after", 2);
  EXPECT_EQ(db.get_count(), 1);  // red: two increments, one counted
}

// With the lock, the nested increment cannot get in: CouldNotLock, and the count is 1.
TEST(Counter, LockingIncrementRefusesTheIntruder) {
  SqliteCounter db(fresh_db("counter_locking"));
  racelab::Hooks hooks;
  bool refused = false;
  hooks.after("counter.get_count", [&] {
    try {
      locking_increment(db);
    } catch (const CouldNotLock&) {
      refused = true;
    }
  });
  locking_increment(db);
  hooks.expect_hit("counter.lock_busy");
  EXPECT_TRUE(refused);
  EXPECT_EQ(db.get_count(), 1);
}

// Two real threads: B tries only once A holds the lock; A releases only after B has been refused.
// Without retries B's increment is lost (count 1); with bounded retries both count (count 2).
class CounterOrdered : public testing::TestWithParam<bool> {};

TEST_P(CounterOrdered, RetryMakesBothIncrementsCount) {
  const bool retrying = GetParam();
  auto path = fresh_db(retrying ? "counter_retry" : "counter_noretry");
  SqliteCounter(path).reset();
  racelab::Hooks hooks;
  hooks.order("counter.lock_acquired", "counter.lock_attempt").on_thread("B");
  hooks.order("counter.lock_busy", "counter.lock_release").on_thread("A");
  bool b_refused = false;
  std::thread a([&] {
    racelab::set_thread_label("A");
    SqliteCounter db(path);
    locking_increment(db);
  });
  std::thread b([&] {
    racelab::set_thread_label("B");
    SqliteCounter db(path);
    try {
      if (retrying)
        retrying_locking_increment(db, 50);
      else
        locking_increment(db);
    } catch (const CouldNotLock&) {
      b_refused = true;
    }
  });
  a.join();
  b.join();
  hooks.expect_hit("counter.lock_busy");  // the collision really happened
  EXPECT_EQ(hooks.timeout_count(), 0u);
  EXPECT_EQ(SqliteCounter(path).get_count(), retrying ? 2 : 1);
  EXPECT_EQ(b_refused, !retrying);
}

INSTANTIATE_TEST_SUITE_P(Counter, CounterOrdered, testing::Values(false, true), [](const auto& param_info) {
  return param_info.param ? "retrying" : "locking_only";
});
