#include "bank/bank.hpp"

#include <racelab/outcome.hpp>
#include <racelab/point.hpp>
#include <thread>

namespace lab::bank {

std::vector<Account> initial_accounts() { return {{"alice", 1000}, {"bob", 500}, {"charlie", 200}}; }

std::string_view to_string(TransferStatus status) {
  return status == TransferStatus::success ? "success" : "failed_insufficient_funds";
}

MemoryLedger::MemoryLedger(std::vector<Account> accounts) { reset(std::move(accounts)); }

std::int64_t MemoryLedger::balance(const std::string& id) const {
  std::lock_guard lk(mu_);
  auto it = balances_.find(id);
  if (it == balances_.end()) throw UnknownAccount(id);
  return it->second;
}

void MemoryLedger::add(const std::string& id, std::int64_t delta) {
  std::lock_guard lk(mu_);
  auto it = balances_.find(id);
  if (it == balances_.end()) throw UnknownAccount(id);
  it->second += delta;
}

bool MemoryLedger::contains(const std::string& id) const {
  std::lock_guard lk(mu_);
  return balances_.count(id) != 0;
}

std::int64_t MemoryLedger::total() const {
  std::lock_guard lk(mu_);
  std::int64_t sum = 0;
  for (const auto& [id, balance] : balances_) sum += balance;
  return sum;
}

std::vector<Account> MemoryLedger::accounts() const {
  std::lock_guard lk(mu_);
  std::vector<Account> out;
  for (const auto& [id, balance] : balances_) out.push_back({id, balance});
  return out;
}

void MemoryLedger::reset(std::vector<Account> accounts) {
  std::lock_guard lk(mu_);
  balances_.clear();
  for (auto& a : accounts) balances_[a.id] = a.balance;
}

TransferResult Bank::transfer(const std::string& from, const std::string& to, std::int64_t amount,
                              Strategy strategy) {
  if (amount <= 0) throw InvalidTransfer("amount must be positive, got " + std::to_string(amount));
  if (from == to) throw InvalidTransfer("cannot transfer from '" + from + "' to itself");
  if (!ledger_.contains(to)) throw UnknownAccount(to);
  if (strategy != Strategy::unsafe && strategy != Strategy::mutex)
    throw StrategyNotApplicable(strategy, "the in-memory bank (it has no database)");

  TransferResult r;
  r.from_balance_before = ledger_.balance(from);  // the check's read
  RACELAB_POINT("transfer.after_read");
  std::unique_lock lock(transfer_mu_, std::defer_lock);
  if (strategy == Strategy::mutex) {
    lock.lock();
    r.from_balance_before = ledger_.balance(from);  // decide on what is true now
  }
  r.to_balance_before = ledger_.balance(to);
  if (r.from_balance_before < amount) {
    r.status = TransferStatus::failed_insufficient_funds;
    r.from_balance_after = r.from_balance_before;
    r.to_balance_after = r.to_balance_before;
    return r;
  }
  ledger_.add(from, -amount);
  RACELAB_POINT("transfer.between_debit_and_credit");
  ledger_.add(to, amount);
  r.from_balance_after = ledger_.balance(from);
  r.to_balance_after = ledger_.balance(to);
  return r;
}

void spawn_double_spend(racelab::Simulation& sim, Bank& bank, Strategy strategy) {
  sim.spawn("A", [&bank, strategy] { bank.transfer("alice", "bob", 800, strategy); });
  sim.spawn("B", [&bank, strategy] { bank.transfer("alice", "charlie", 800, strategy); });
}

void simulate_double_spend(racelab::Simulation& sim, Strategy strategy) {
  MemoryLedger ledger;
  Bank bank(ledger);
  spawn_double_spend(sim, bank, strategy);
  static_cast<void>(sim.run());
  RACELAB_ASSERT(ledger.balance("alice") >= 0);
  RACELAB_ASSERT(ledger.total() == 1700);
}

DoubleSpendRun run_double_spend(Strategy strategy) {
  MemoryLedger ledger;
  Bank bank(ledger);
  TransferResult to_bob, to_charlie;
  std::thread a([&] { to_bob = bank.transfer("alice", "bob", 800, strategy); });
  std::thread b([&] { to_charlie = bank.transfer("alice", "charlie", 800, strategy); });
  a.join();
  b.join();
  int ok = (to_bob.status == TransferStatus::success) + (to_charlie.status == TransferStatus::success);
  return {ledger.balance("alice"), ok, ledger.total()};
}

}  // namespace lab::bank
