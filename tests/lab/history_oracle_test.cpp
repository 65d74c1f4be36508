// The history checker as explore's oracle: the counter and the on-call shift record each
// operation's reads and writes, and check() is the only judge — no invariant on the counter's
// value or on who stays on call. Unsafe is found as a lost update (P4) or a write skew (G2) with
// its cycle; every safe strategy is clean in every schedule of a DFS. On SQLite, and on MariaDB
// (whose adapter makes a lock wait a scheduling decision, so a DFS there is a proof too).
#include <racelab/history.hpp>
#include <racelab/racelab.hpp>

#include <gtest/gtest.h>

#include "common/sql_strategy.hpp"
#include "counter/sql_counter.hpp"
#include "db_env.hpp"
#include "inventory/sql_inventory.hpp"
#include "oncall/oncall.hpp"

using lab::Strategy;

namespace {

// Three increments on their own connections of `pool`, each recorded; the run fails when the
// history is not clean.
void three_increments(racelab::Simulation& sim, Strategy strategy, lab::inventory::DbPool& pool) {
  racelab::History history;
  lab::counter::SqlCounter::reset(pool.at(0));
  for (int i = 0; i < 3; ++i) {
    std::string task = "T";
    task += std::to_string(i);
    sim.spawn(task, [&, i, task] {
      lab::counter::SqlCounter c(pool.at(i + 1), &history, task);
      lab::retry_busy(200, [&] { return c.increment(strategy); });
    });
  }
  auto out = sim.run();
  if (!out.ok()) return;
  auto report = racelab::check(history);
  if (!report.clean()) throw racelab::AssertionFailed(report.text());
}

void three_increments(racelab::Simulation& sim, Strategy strategy) {
  lab::inventory::DbPool pool(db_env::sqlite_memdb("history"), 4);
  three_increments(sim, strategy, pool);
}

class HistoryOracle : public testing::TestWithParam<Strategy> {};

TEST(HistoryOracleUnsafe, ExploreFindsTheLostUpdateWithoutAnInvariant) {
  auto report = racelab::explore({.runs = 200, .strategy = "dfs:1", .use_env = false, .jobs = 1},
                                 [](racelab::Simulation& sim) { three_increments(sim, Strategy::unsafe); });
  ASSERT_TRUE(report.failed()) << report;
  const auto& message = report.outcome().message();
  EXPECT_NE(message.find("P4 (lost update)"), std::string::npos) << message;
  EXPECT_NE(message.find("-rw->"), std::string::npos) << message;
  EXPECT_NE(message.find("SELECT n FROM counters WHERE id = 1"), std::string::npos) << message;
}

TEST_P(HistoryOracle, EverySafeScheduleIsClean) {
  auto strategy = GetParam();
  auto report = racelab::explore({.runs = 5000, .strategy = "dfs:1", .use_env = false, .jobs = 1},
                                 [strategy](racelab::Simulation& sim) { three_increments(sim, strategy); });
  EXPECT_FALSE(report.failed()) << report;
  EXPECT_TRUE(report.complete()) << report.summary();
  EXPECT_GT(report.runs(), 10) << report.summary();
}

INSTANTIATE_TEST_SUITE_P(Counter, HistoryOracle,
                         testing::Values(Strategy::mutex, Strategy::pessimistic, Strategy::nowait,
                                         Strategy::optimistic, Strategy::atomic, Strategy::serializable),
                         [](const auto& p) { return std::string(lab::to_string(p.param)); });

// Alice and bob go off call at once, each recording the doctors it saw on call and the row it
// wrote; the history is the only judge.
void both_off_call(racelab::Simulation& sim, Strategy strategy, lab::inventory::DbPool& pool) {
  racelab::History history;
  lab::oncall::Shift::reset(pool.at(0), {"alice", "bob"});
  for (int i = 0; i < 2; ++i) {
    std::string doctor = i == 0 ? "alice" : "bob";
    sim.spawn(doctor, [&, i, doctor] {
      try {
        lab::retry_busy(
            200, [&] { lab::oncall::Shift(pool.at(i + 1), &history, doctor).go_off_call(doctor, strategy); });
      } catch (const lab::oncall::OnlyOneOnCall&) {
      }
    });
  }
  auto out = sim.run();
  if (!out.ok()) return;
  auto report = racelab::check(history);
  if (!report.clean()) throw racelab::AssertionFailed(report.text());
}

void both_off_call(racelab::Simulation& sim, Strategy strategy) {
  lab::inventory::DbPool pool(db_env::sqlite_memdb("oncall"), 3);
  both_off_call(sim, strategy, pool);
}

TEST(HistoryOracleUnsafe, ExploreFindsTheWriteSkewAsG2) {
  auto report = racelab::explore({.runs = 200, .strategy = "dfs:1", .use_env = false, .jobs = 1},
                                 [](racelab::Simulation& sim) { both_off_call(sim, Strategy::unsafe); });
  ASSERT_TRUE(report.failed()) << report;
  const auto& message = report.outcome().message();
  EXPECT_NE(message.find("G2 ("), std::string::npos) << message;
  EXPECT_NE(message.find("alice -prw-> bob"), std::string::npos) << message;
  EXPECT_NE(message.find("bob -prw-> alice"), std::string::npos) << message;
}

class HistoryOracleOnCall : public testing::TestWithParam<Strategy> {};

TEST_P(HistoryOracleOnCall, EverySafeScheduleIsClean) {
  auto strategy = GetParam();
  auto report = racelab::explore({.runs = 5000, .strategy = "dfs:1", .use_env = false, .jobs = 1},
                                 [strategy](racelab::Simulation& sim) { both_off_call(sim, strategy); });
  EXPECT_FALSE(report.failed()) << report;
  EXPECT_TRUE(report.complete()) << report.summary();
  EXPECT_GT(report.runs(), 5) << report.summary();
}

INSTANTIATE_TEST_SUITE_P(OnCall, HistoryOracleOnCall,
                         testing::Values(Strategy::mutex, Strategy::pessimistic, Strategy::nowait,
                                         Strategy::optimistic, Strategy::serializable),
                         [](const auto& p) { return std::string(lab::to_string(p.param)); });

// The same oracle on MariaDB: the tables reset and the connections opened for each run. Unsafe is red on both
// scenarios; each safe strategy is clean in every schedule.
struct MariaCase {
  std::string scenario;
  Strategy strategy;
};

void PrintTo(const MariaCase& c, std::ostream* out) {
  *out << c.scenario << '/' << lab::to_string(c.strategy);
}

class HistoryOracleMariaDb : public testing::TestWithParam<MariaCase> {};

TEST_P(HistoryOracleMariaDb, UnsafeIsFoundAndEverySafeScheduleIsClean) {
  if (!lab::has_mariadb()) GTEST_SKIP() << "built without MariaDB Connector/C";
  const auto& p = GetParam();
  // A database of its own: ctest runs the instances at once.
  const auto url = db_env::mariadb("history_" + p.scenario + "_" + std::string(lab::to_string(p.strategy)));
  auto body = [&](racelab::Simulation& sim) {
    lab::inventory::DbPool pool(url, 4);  // connections of this run (a connection knows its run's tasks)
    if (p.scenario == "counter")
      three_increments(sim, p.strategy, pool);
    else
      both_off_call(sim, p.strategy, pool);
  };
  auto report = racelab::explore({.runs = 5000, .strategy = "dfs:1", .use_env = false, .jobs = 1}, body);
  if (p.strategy == Strategy::unsafe) {
    ASSERT_TRUE(report.failed()) << report;
    const auto& message = report.outcome().message();
    EXPECT_NE(message.find(p.scenario == "counter" ? "P4 (lost update)" : "G2 ("), std::string::npos)
        << message;
    return;
  }
  EXPECT_FALSE(report.failed()) << report;
  EXPECT_TRUE(report.complete()) << report.summary();
  EXPECT_GT(report.runs(), 5) << report.summary();
}

INSTANTIATE_TEST_SUITE_P(
    MariaDb, HistoryOracleMariaDb,
    testing::Values(MariaCase{"counter", Strategy::unsafe}, MariaCase{"counter", Strategy::pessimistic},
                    MariaCase{"counter", Strategy::optimistic}, MariaCase{"counter", Strategy::atomic},
                    MariaCase{"counter", Strategy::serializable}, MariaCase{"oncall", Strategy::unsafe},
                    MariaCase{"oncall", Strategy::pessimistic}, MariaCase{"oncall", Strategy::serializable}),
    [](const auto& p) { return p.param.scenario + "_" + std::string(lab::to_string(p.param.strategy)); });

}  // namespace
