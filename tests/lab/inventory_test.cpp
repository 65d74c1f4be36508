// The Rails test: 4 customers, 3 items, released together by stress()'s start gate.
#include "inventory/inventory.hpp"

#include <racelab/hooks.hpp>
#include <racelab/stress.hpp>

#include <gtest/gtest.h>

using lab::Strategy;

// barrier(4) at the window: all four read 3 before anyone writes; oversold in 50/50 iterations.
TEST(Inventory, UnsafePurchaseOversellsUnderABarrier) {
  racelab::Hooks hooks;
  hooks.barrier("inventory.after_read", 4);
  auto report = lab::inventory::rush(Strategy::unsafe, 50);
  EXPECT_EQ(report.iterations(), 50);
  EXPECT_EQ(report.violations(), 50) << report;
  hooks.expect_hit("inventory.after_read", 200);  // all four customers entered the window, every time
  EXPECT_EQ(hooks.timeout_count(), 0u);
}

// A 2 ms delay widens the window without forcing it: the oversell rate is measured and reported.
TEST(Inventory, UnsafePurchaseOversellsWithAWidenedWindow) {
  racelab::Hooks hooks;
  hooks.delay("inventory.after_read", std::chrono::milliseconds(2));
  auto report = lab::inventory::rush(Strategy::unsafe, 50);
  RecordProperty("oversell_rate", std::to_string(report.violation_rate()));
  std::cout << "unsafe purchase with a 2 ms window: " << report << '\n';
  EXPECT_GT(report.violations(), 0) << report;
  hooks.expect_hit("inventory.after_read", 200);
}

// The mutex strategy with the same barrier: exactly one customer refused, never oversold, 200/200.
TEST(Inventory, MutexNeverOversells) {
  racelab::Hooks hooks;
  hooks.barrier("inventory.after_read", 4);
  auto report = lab::inventory::rush(Strategy::mutex, 200);
  EXPECT_TRUE(report.ok()) << report;
  EXPECT_EQ(report.iterations(), 200);
  hooks.expect_hit("inventory.after_read", 800);
  EXPECT_EQ(hooks.timeout_count(), 0u);
}
