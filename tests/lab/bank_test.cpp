// Lab 21's double-spend with real threads: a barrier at the window makes the unsafe transfer go
// negative every time; the mutex strategy, with the same barrier armed, never does and never waits
// out the barrier's timeout.
#include "bank/bank.hpp"

#include <racelab/explore.hpp>
#include <racelab/hooks.hpp>

#include <gtest/gtest.h>

using namespace lab::bank;
using lab::Strategy;

// barrier(2) at transfer.after_read: both read 1000 before either debits; alice ends at -600 in 100/100.
TEST(Bank, UnsafeTransferDoubleSpendsUnderABarrier) {
  racelab::Hooks hooks;
  hooks.barrier("transfer.after_read", 2);
  for (int run = 0; run < 100; ++run) {
    auto out = run_double_spend(Strategy::unsafe);
    ASSERT_EQ(out.alice, -600) << "run " << run;
    ASSERT_EQ(out.succeeded, 2);
    ASSERT_EQ(out.total, 1700);  // conserved, yet alice is overdrawn
  }
  hooks.expect_hit("transfer.after_read", 200);
  EXPECT_EQ(hooks.timeout_count(), 0u);
}

// Same barrier, mutex strategy: one succeeds, one is refused, alice 200 in 100/100 — and promptly:
// the window sits before the critical section, so the barrier never times out.
TEST(Bank, MutexHoldsWithTheBarrierStillArmed) {
  racelab::Hooks hooks;
  hooks.barrier("transfer.after_read", 2);
  for (int run = 0; run < 100; ++run) {
    auto out = run_double_spend(Strategy::mutex);
    ASSERT_EQ(out.alice, 200) << "run " << run;
    ASSERT_EQ(out.succeeded, 1);
    ASSERT_EQ(out.total, 1700);
  }
  hooks.expect_hit("transfer.after_read", 200);
  EXPECT_EQ(hooks.timeout_count(), 0u);
}

TEST(Bank, RecordsBeforeAndAfterBalances) {
  MemoryLedger ledger;
  Bank bank(ledger);
  auto r = bank.transfer("alice", "bob", 100, Strategy::mutex);
  EXPECT_EQ(r.status, TransferStatus::success);
  EXPECT_EQ(r.from_balance_before, 1000);
  EXPECT_EQ(r.from_balance_after, 900);
  EXPECT_EQ(r.to_balance_before, 500);
  EXPECT_EQ(r.to_balance_after, 600);
  auto refused = bank.transfer("charlie", "bob", 201, Strategy::mutex);
  EXPECT_EQ(refused.status, TransferStatus::failed_insufficient_funds);
  EXPECT_EQ(to_string(refused.status), "failed_insufficient_funds");
}

// Bad input is refused with a reason and changes nothing.
TEST(Bank, BadTransfersChangeNothing) {
  MemoryLedger ledger;
  Bank bank(ledger);
  auto before = ledger.accounts();
  EXPECT_THROW(bank.transfer("alice", "bob", 0, Strategy::unsafe), InvalidTransfer);
  EXPECT_THROW(bank.transfer("alice", "bob", -5, Strategy::unsafe), InvalidTransfer);
  EXPECT_THROW(bank.transfer("alice", "alice", 5, Strategy::mutex), InvalidTransfer);
  EXPECT_THROW(bank.transfer("mallory", "bob", 5, Strategy::unsafe), UnknownAccount);
  EXPECT_THROW(bank.transfer("alice", "mallory", 5, Strategy::unsafe), UnknownAccount);
  EXPECT_THROW(bank.transfer("alice", "bob", 5, Strategy::pessimistic), lab::StrategyNotApplicable);
  auto after = ledger.accounts();
  ASSERT_EQ(before.size(), after.size());
  for (std::size_t i = 0; i < before.size(); ++i) EXPECT_EQ(before[i].balance, after[i].balance);
}

TEST(Strategy, NamesRoundTrip) {
  for (auto s : lab::kAllStrategies) EXPECT_EQ(lab::parse_strategy(lab::to_string(s)), s);
  EXPECT_EQ(lab::parse_strategy("safe"), std::nullopt);
}

// The deterministic simulation finds the double-spend without hooks and explains it: the minimal
// schedule switches inside the window, and the story names the seed and the point.
TEST(BankSimulation, ExploreFindsTheDoubleSpend) {
  auto body = [](Strategy strategy) {
    return [strategy](racelab::Simulation& sim) { simulate_double_spend(sim, strategy); };
  };
  auto red = racelab::explore({.runs = 200, .use_env = false}, body(Strategy::unsafe));
  ASSERT_TRUE(red.failed());
  EXPECT_NE(red.schedule().find("transfer.after_read"), std::string::npos) << red;
  // The mutex strategy survives every schedule: a bounded proof, not a sample.
  auto green =
      racelab::explore({.runs = 100'000, .strategy = "dfs", .use_env = false}, body(Strategy::mutex));
  EXPECT_FALSE(green.failed()) << green;
  EXPECT_TRUE(green.complete());
}
