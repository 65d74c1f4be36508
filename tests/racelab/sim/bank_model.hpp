// The Resonate DST bank, in memory: account balances, and a transfer that reads, checks, debits
// and credits with a point at every step. Shared by the simulation tests and benchmarks.
#pragma once

#include <racelab/racelab.hpp>

#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>

namespace sim_test {

struct NotEnoughFunds : std::runtime_error {
  NotEnoughFunds() : std::runtime_error("not enough funds") {}
};

struct Store {
  std::map<int, std::int64_t> balance{{1, 100}, {2, 0}};
  racelab::mutex lock{"store"};
  std::int64_t total() const { return balance.at(1) + balance.at(2); }
  std::string state() const {
    return "account 1 = " + std::to_string(balance.at(1)) + ", account 2 = " + std::to_string(balance.at(2));
  }
};

// Read, check, debit, credit: each step a point, so another transfer may cut in between any two.
inline void transfer(Store& s, int source, int target, std::int64_t amount) {
  RACELAB_POINT("bank.read");
  std::int64_t seen = s.balance[source];
  RACELAB_POINT("bank.check");
  if (seen - amount < 0) throw NotEnoughFunds();
  RACELAB_POINT("bank.debit");
  s.balance[source] -= amount;
  RACELAB_POINT("bank.credit");
  s.balance[target] += amount;
}

// The same transfer reporting "not enough funds" as a result instead of an exception.
inline bool try_transfer(Store& s, int source, int target, std::int64_t amount) {
  RACELAB_POINT("bank.read");
  std::int64_t seen = s.balance[source];
  RACELAB_POINT("bank.check");
  if (seen - amount < 0) return false;
  RACELAB_POINT("bank.debit");
  s.balance[source] -= amount;
  RACELAB_POINT("bank.credit");
  s.balance[target] += amount;
  return true;
}

inline void locked_transfer(Store& s, int source, int target, std::int64_t amount) {
  std::lock_guard guard(s.lock);
  transfer(s, source, target, amount);
}

// Two transfers (100 and 70 from account 1 to 2) that may each fail with NotEnoughFunds.
inline void spawn_transfers(racelab::Simulation& sim, Store& s, bool locked) {
  for (auto [name, amount] : {std::pair{"A", 100}, std::pair{"B", 70}}) {
    sim.spawn(name, [&s, locked, amount = amount] {
      try {
        locked ? locked_transfer(s, 1, 2, amount) : transfer(s, 1, 2, amount);
      } catch (const NotEnoughFunds&) {
      }
    });
  }
}

}  // namespace sim_test
