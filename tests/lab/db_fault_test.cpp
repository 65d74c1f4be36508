// Faults at the database boundary (racelab/fault.hpp) through the lab's Db, on SQLite and
// PostgreSQL: each surfaces as the lab error its real driver error maps to; and a client that retries
// on error double-transfers when a COMMIT's answer is lost — found by explore on its own, red — and
// moves money once with an idempotency key, in every schedule and fault placement DFS tries.
#include <racelab/racelab.hpp>

#include <gtest/gtest.h>

#include <typeinfo>

#include "bank/sql_bank.hpp"
#include "db_env.hpp"

using lab::Backend;
using lab::Strategy;
using lab::bank::SqlBank;
using racelab::Fault;

namespace {

std::string backend_name(const testing::TestParamInfo<Backend>& info) {
  return std::string(lab::to_string(info.param));
}

std::int64_t rows(lab::Db& db) { return db.query_int64("SELECT count(*) FROM t", {}).value(); }

template <class Fn>
std::string error_of(Fn fn) {
  try {
    fn();
  } catch (const lab::DbLost&) {
    return "DbLost";
  } catch (const lab::DbTimeout&) {
    return "DbTimeout";
  } catch (const lab::DbConflict&) {
    return "DbConflict";
  } catch (const lab::DbBusy&) {
    return "DbBusy";
  } catch (const std::exception& e) {
    return std::string("other: ") + e.what();
  }
  return "none";
}

}  // namespace

class DbFaults : public testing::TestWithParam<Backend> {};

// One statement in a transaction, each fault armed on it once (Hooks::fault, as RACELAB_HOOKS would):
// the lab error its driver's error becomes, and the statement did not run. SQLite's busy inside a
// transaction is a conflict to retry, as a real one is (lab/common/db.cpp).
TEST_P(DbFaults, EachStatementFaultIsTheDriversError) {
  const bool pg = GetParam() == Backend::postgres;
  auto db = lab::open_db(db_env::url(GetParam(), "db_faults"));
  db->script("DROP TABLE IF EXISTS t; CREATE TABLE t(n BIGINT NOT NULL)");
  const std::vector<std::pair<Fault, std::string>> expected{{Fault::lost_before, "DbLost"},
                                                            {Fault::timeout, "DbTimeout"},
                                                            {Fault::deadlock, "DbConflict"},
                                                            {Fault::serialization, "DbConflict"},
                                                            {Fault::busy, pg ? "DbBusy" : "DbConflict"}};
  for (const auto& [fault, error] : expected) {
    racelab::Hooks hooks;
    hooks.fault("sql.insert.t", fault);
    EXPECT_EQ(error_of([&] {
                lab::Tx tx(*db, lab::TxMode::write);
                db->run("INSERT INTO t VALUES (1)", {});
                tx.commit();
              }),
              error)
        << racelab::to_string(fault);
    EXPECT_EQ(rows(*db), 0) << racelab::to_string(fault) << ": the statement ran";
  }
  // The Db goes on after each: a lost PostgreSQL connection is replaced on next use.
  db->run("INSERT INTO t VALUES (1)", {});
  EXPECT_EQ(rows(*db), 1);
}

// COMMIT's connection lost before it was sent rolls back; lost after it arrived has committed. The
// caller sees the same DbLost either way: that is what makes a blind retry dangerous.
TEST_P(DbFaults, ALostCommitsOutcomeIsUnknownToTheCaller) {
  auto db = lab::open_db(db_env::url(GetParam(), "db_faults_commit"));
  db->script("DROP TABLE IF EXISTS t; CREATE TABLE t(n BIGINT NOT NULL)");
  for (auto [fault, committed] : {std::pair{Fault::lost_before, 0}, std::pair{Fault::lost_after_commit, 1}}) {
    db->run("DELETE FROM t", {});
    racelab::Hooks hooks;
    hooks.fault("sql.commit", fault);
    std::string error = error_of([&] {
      lab::Tx tx(*db, lab::TxMode::write);
      db->run("INSERT INTO t VALUES (1)", {});
      tx.commit();
    });
    EXPECT_EQ(error, "DbLost") << racelab::to_string(fault);
    EXPECT_EQ(rows(*db), committed) << racelab::to_string(fault);
  }
}

// A deadlock victim's transaction is over on PostgreSQL, as with the real 40P01: the server refuses
// the rest of it.
TEST(DbFaults, APostgresDeadlockVictimsTransactionIsAborted) {
  auto db = lab::open_db(db_env::postgres("db_faults_abort"));
  db->script("DROP TABLE IF EXISTS t; CREATE TABLE t(n BIGINT NOT NULL)");
  racelab::Hooks hooks;
  hooks.fault("sql.insert.t", Fault::deadlock);
  lab::Tx tx(*db, lab::TxMode::write);
  EXPECT_THROW(db->run("INSERT INTO t VALUES (1)", {}), lab::DbConflict);
  try {
    db->run("INSERT INTO t VALUES (2)", {});
    FAIL() << "the aborted transaction went on";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("current transaction is aborted"), std::string::npos) << e.what();
  }
}

INSTANTIATE_TEST_SUITE_P(Db, DbFaults, testing::Values(Backend::sqlite, Backend::postgres), backend_name);

namespace {

// A client that retries its transfer when the database fails (up to 3 attempts), with `key` or none.
void retrying_client(lab::Db& db, const std::string& to, Strategy strategy, const std::string& key) {
  for (int attempt = 1; attempt <= 3; ++attempt) {
    try {
      static_cast<void>(SqlBank(db).transfer("alice", to, 100, strategy, key));
      return;
    } catch (const lab::DbLost&) {
    } catch (const lab::DbConflict&) {
    } catch (const lab::DbBusy&) {
    } catch (const lab::DbTimeout&) {
    }
  }
}

// Two clients, alice -> bob 100 and alice -> charlie 100, each retrying, on SQLite in memory.
// Whatever failed, each request moved its 100 at most once, and the books balance.
racelab::Report two_retrying_clients(racelab::ExploreOptions options, Strategy strategy, bool keys) {
  options.use_env = false;
  options.jobs = 1;
  return racelab::explore(options, [&](racelab::Simulation& sim) {
    auto url = db_env::sqlite_memdb("fault_retry");
    auto setup = lab::open_db(url);
    SqlBank::reset(*setup, strategy);
    auto a = lab::open_db(url), b = lab::open_db(url);
    sim.spawn("A", [&] { retrying_client(*a, "bob", strategy, keys ? "request-a" : ""); });
    sim.spawn("B", [&] { retrying_client(*b, "charlie", strategy, keys ? "request-b" : ""); });
    if (!sim.run().ok()) return;
    SqlBank bank(*setup);
    RACELAB_ASSERT(bank.balance("bob") <= 500 + 100);  // bob's request, applied at most once
    RACELAB_ASSERT(bank.balance("charlie") <= 200 + 100);
    RACELAB_ASSERT(lab::bank::audit(*setup).clean());
  });
}

}  // namespace

// Red: no key. A random search with every fault at every statement finds the double transfer on its
// own: the COMMIT's answer was lost, the client retried, the money moved twice.
TEST(FaultRetry, WithoutAKeyExploreFindsTheDoubleTransfer) {
  auto report =
      two_retrying_clients({.runs = 3000, .crash_probability = 0.1, .crash_points = "sql.*", .faults = "all"},
                           Strategy::atomic, false);
  ASSERT_TRUE(report.failed()) << report;
  EXPECT_NE(report.schedule().find("@sql.commit#1!lost_after_commit"), std::string::npos) << report;
  std::cout << report;
}

// Green: with keys, DFS over the clients' schedules without preemption (a switch wherever a lock
// blocks, or a client ends) and every placement of a lost
// connection, lost answer or serialization failure at each COMMIT: each request moves money once.
TEST(FaultRetry, WithAKeyDfsProvesEachRequestMovesMoneyOnce) {
  // Every strategy. Serializable retries each injected serialization failure itself, which makes a
  // tree past 20,000 schedules: it gets a random search instead, every fault at every statement.
  for (Strategy strategy : lab::kAllStrategies) {
    if (strategy == Strategy::serializable) {
      auto sampled = two_retrying_clients(
          {.runs = 2000, .crash_probability = 0.1, .crash_points = "sql.*", .faults = "all"}, strategy, true);
      EXPECT_FALSE(sampled.failed()) << "serializable: " << sampled;
      auto without = two_retrying_clients(
          {.runs = 2000, .crash_probability = 0.1, .crash_points = "sql.*", .faults = "all"}, strategy,
          false);
      EXPECT_TRUE(without.failed()) << "serializable without a key";
      std::cout << "serializable: " << sampled.runs() << " sampled runs, none moves money twice\n";
      continue;
    }
    auto report = two_retrying_clients({.runs = 20'000,
                                        .strategy = "dfs:0",
                                        .crash_probability = 1.0,
                                        .crash_points = "sql.commit",
                                        .faults = "lost_before,lost_after_commit,serialization"},
                                       strategy, true);
    EXPECT_FALSE(report.failed()) << lab::to_string(strategy) << ": " << report;
    EXPECT_TRUE(report.complete()) << lab::to_string(strategy) << ": " << report.runs() << " runs";
    // Without the key the same search fails: the proof is about the key, not a search too small.
    auto without = two_retrying_clients({.runs = 20'000,
                                         .strategy = "dfs:0",
                                         .crash_probability = 1.0,
                                         .crash_points = "sql.commit",
                                         .faults = "lost_before,lost_after_commit,serialization"},
                                        strategy, false);
    EXPECT_TRUE(without.failed()) << lab::to_string(strategy);
    std::cout << lab::to_string(strategy) << ": " << report.runs() << " schedules, none moves money twice\n";
  }
}

// Real threads, on both backends: `sql.commit=fault:lost_after_commit` armed once (the RACELAB_HOOKS
// spec) loses the first COMMIT's answer; the retry without a key transfers again, with one it does not.
TEST_P(DbFaults, ALostAnswerOnRealThreadsDoubleTransfersOnlyWithoutAKey) {
  for (bool key : {false, true}) {
    auto db = lab::open_db(db_env::url(GetParam(), std::string("fault_hooks_") + (key ? "key" : "nokey")));
    SqlBank::reset(*db, Strategy::atomic);
    racelab::Hooks hooks;
    hooks.arm("sql.commit=fault:lost_after_commit");
    retrying_client(*db, "bob", Strategy::atomic, key ? "request-1" : "");
    EXPECT_EQ(SqlBank(*db).balance("bob"), key ? 600 : 700) << (key ? "with" : "without") << " a key";
    EXPECT_TRUE(lab::bank::audit(*db).clean());
  }
}
