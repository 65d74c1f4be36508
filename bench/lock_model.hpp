// The reference lock model other C++ checkers are timed on, shared by model_benchmark and
// jobs_benchmark: N tasks each lock a racelab::mutex, read a balance of 100, pass a point, withdraw
// 60 if it is there, and unlock. With the lock exactly one withdrawal succeeds per run.
#pragma once

#include <racelab/racelab.hpp>

#include <cstdint>
#include <mutex>

namespace lock_model {

inline constexpr const char* kTaskNames[] = {"A", "B", "C", "D", "E", "F", "G", "H"};

struct Account {
  racelab::mutex lock{"account"};
  int balance = 100;
  int withdrawals = 0;
};

// One task: under the lock, read, pass a point, withdraw 60 if the balance read allows it.
inline void withdraw(Account& a, bool locked) {
  std::unique_lock guard(a.lock, std::defer_lock);
  if (locked) guard.lock();
  const int seen = a.balance;
  RACELAB_POINT("model.after_read");
  if (seen >= 60) {
    a.balance = seen - 60;
    ++a.withdrawals;
  }
}

// Summed over the runs of one repetition: checks that the runs really ran. Not thread-safe: a body
// run by explore() on several jobs passes none.
struct Tally {
  std::uint64_t successes = 0;  // withdrawals that went through; one per run when the lock works
  std::uint64_t steps = 0;      // scheduling decisions
};

// The body a user hands to explore(): spawn, run, check. Returns the run's withdrawals.
inline int body(racelab::Simulation& sim, int tasks, bool locked, Tally* tally = nullptr) {
  Account a;
  for (int i = 0; i < tasks; ++i) sim.spawn(kTaskNames[i], [&a, locked] { withdraw(a, locked); });
  const auto steps = sim.run().steps();
  RACELAB_ASSERT(a.withdrawals <= 1);
  if (tally != nullptr) {
    tally->steps += steps;
    tally->successes += static_cast<std::uint64_t>(a.withdrawals);
  }
  return a.withdrawals;
}

}  // namespace lock_model
