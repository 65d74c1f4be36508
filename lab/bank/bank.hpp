// lab/bank/bank.hpp — the "Lab 21" bank: a check-then-act transfer, buggy and fixed.
//
// Accounts alice 1000, bob 500, charlie 200. A transfer reads the source balance, checks it,
// debits the source and credits the target. The window between read and debit is the point
// `transfer.after_read`; two transfers of 800 from alice that both pass it before either debits
// leave alice at -600 under `unsafe`. Under `mutex` the check is repeated inside a lock.
//
//   lab::bank::MemoryLedger ledger;                 // alice 1000, bob 500, charlie 200
//   lab::bank::Bank bank(ledger);
//   auto r = bank.transfer("alice", "bob", 800, lab::Strategy::mutex);
//   assert(r.status == lab::bank::TransferStatus::success && ledger.balance("alice") == 200);
//
// Where the window sits: every strategy first reads the balance outside any lock and passes
// `transfer.after_read`; safe strategies then re-read inside their critical section. So a barrier at
// the window holds all racing transfers at once under every strategy, and is released at once,
// instead of waiting out its timeout inside a section only one thread can enter.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include <racelab/sim/simulation.hpp>
#include <racelab/sim/sync.hpp>

#include "common/strategy.hpp"

namespace lab::bank {

struct Account {
  std::string id;
  std::int64_t balance = 0;  // whole units; money is never floating point
};

std::vector<Account> initial_accounts();  // alice 1000, bob 500, charlie 200

class UnknownAccount : public std::invalid_argument {
 public:
  explicit UnknownAccount(const std::string& id) : std::invalid_argument("unknown account '" + id + "'") {}
};

class InvalidTransfer : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

enum class TransferStatus { success, failed_insufficient_funds };
std::string_view to_string(TransferStatus status);

struct TransferResult {
  TransferStatus status = TransferStatus::success;
  std::int64_t from_balance_before = 0;  // as the transfer saw it when it decided
  std::int64_t from_balance_after = 0;
  std::int64_t to_balance_before = 0;
  std::int64_t to_balance_after = 0;
};

// In-memory storage. Each operation is atomic on its own, like an autocommit statement; a
// sequence of them is not, which is the whole point.
class MemoryLedger {
 public:
  explicit MemoryLedger(std::vector<Account> accounts = initial_accounts());
  std::int64_t balance(const std::string& id) const;  // throws UnknownAccount
  void add(const std::string& id, std::int64_t delta);
  bool contains(const std::string& id) const;
  std::int64_t total() const;
  std::vector<Account> accounts() const;
  void reset(std::vector<Account> accounts = initial_accounts());

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::int64_t> balances_;
};

class Bank {
 public:
  explicit Bank(MemoryLedger& ledger) : ledger_(ledger) {}
  // Throws InvalidTransfer (amount <= 0, same account), UnknownAccount, StrategyNotApplicable.
  TransferResult transfer(const std::string& from, const std::string& to, std::int64_t amount,
                          Strategy strategy);

 private:
  MemoryLedger& ledger_;
  // The `mutex` strategy: in-process only. racelab::mutex is std::mutex on real threads and a
  // schedulable lock inside a simulation.
  racelab::mutex transfer_mu_{"bank.transfer"};
};

// The same exercise as simulated tasks "A" and "B" on `sim` (call sim.run() afterwards).
void spawn_double_spend(racelab::Simulation& sim, Bank& bank, Strategy strategy);

// The whole simulated exercise for explore(): a fresh ledger, the two transfers as tasks, the run,
// then the invariants (alice not below zero, money conserved) as RACELAB_ASSERTs.
void simulate_double_spend(racelab::Simulation& sim, Strategy strategy);

// The lab's central exercise: alice -> bob 800 and alice -> charlie 800 on two real threads at
// once, on a fresh ledger. Hooks armed by the caller shape the interleaving.
struct DoubleSpendRun {
  std::int64_t alice = 0;  // alice's final balance: -600 is a double-spend, 200 is correct
  int succeeded = 0;       // transfers that reported success
  std::int64_t total = 0;  // money in the bank afterwards (1700 before)
};
DoubleSpendRun run_double_spend(Strategy strategy);

}  // namespace lab::bank
