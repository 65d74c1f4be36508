// The bank on SQLite, PostgreSQL and MariaDB, every strategy, red then green: a barrier at the
// window makes `unsafe` double-spend in every iteration, and every other strategy holds under the
// same barrier for 1,000 iterations (300 on MariaDB); the simulation finds the unsafe interleaving
// and passes the safe ones.
#include "bank/sql_bank.hpp"

#include <racelab/db/postgres.hpp>
#include <racelab/racelab.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <ostream>
#include <thread>

#include "db_env.hpp"

using lab::Backend;
using lab::Strategy;
using lab::bank::SqlBank;
using lab::bank::TransferStatus;

namespace {

struct Param {
  Backend backend;
  Strategy strategy;
};

std::string name_of(const testing::TestParamInfo<Param>& info) {
  return std::string(lab::to_string(info.param.backend)) + "_" +
         std::string(lab::to_string(info.param.strategy));
}

// GoogleTest prints a parameter with this ("where GetParam() = sqlite/atomic").
void PrintTo(const Param& p, std::ostream* out) {
  *out << lab::to_string(p.backend) << '/' << lab::to_string(p.strategy);
}

// Two threads, each with its own connection: alice -> bob 800 and alice -> charlie 800.
struct TwoClients {
  std::unique_ptr<lab::Db> setup, a, b;
  std::atomic<int> succeeded{0}, busy{0};
  TwoClients(Backend backend, Strategy strategy, const std::string& name) {
    auto url = db_env::url(backend, name);
    setup = lab::open_db(url);
    SqlBank::reset(*setup, strategy);
    a = lab::open_db(url);
    b = lab::open_db(url);
  }
  void refill() {
    setup->run(
        "UPDATE accounts SET balance = CASE id WHEN 'alice' THEN 1000 WHEN 'bob' THEN 500 ELSE 200 END, "
        "version = 0",
        {});
    succeeded = 0;
    busy = 0;
  }
  void transfer(int i, Strategy strategy) {
    SqlBank bank(i == 0 ? *a : *b);
    try {
      auto r = bank.transfer("alice", i == 0 ? "bob" : "charlie", 800, strategy);
      if (r.status == TransferStatus::success) ++succeeded;
    } catch (const lab::DbBusy&) {
      ++busy;  // nowait: "busy, retry later", nothing written
    }
  }
  std::string check() {
    SqlBank bank(*setup);
    auto alice = bank.balance("alice"), total = bank.total();
    if (alice < 0) return "alice overdrawn: " + std::to_string(alice);
    if (total != 1700) return "money not conserved: " + std::to_string(total);
    if (alice != 1000 - 800 * succeeded) return "accepted transfers not applied exactly once";
    if (succeeded + busy == 0) return "no transfer went through";
    return "";
  }
};

}  // namespace

class SqlBankStress : public testing::TestWithParam<Param> {};

// barrier(2) at transfer.after_read: both transfers read 1000 first. Unsafe: 20 of 20 iterations
// overdraw alice. Every other strategy: 0 of 1,000 (of 300 on MariaDB, whose round trips and lock
// waits cost more: the suite stays within its time), with the same barrier armed.
TEST_P(SqlBankStress, BarrierAtTheWindow) {
  const Backend backend = GetParam().backend;  // not a structured binding: Clang 14 cannot capture one
  const Strategy strategy = GetParam().strategy;
  TwoClients clients(backend, strategy, "stress_" + std::string(lab::to_string(strategy)));
  racelab::Hooks hooks;
  hooks.barrier("transfer.after_read", 2);
  const bool unsafe = strategy == Strategy::unsafe;
  auto report = racelab::stress(
      racelab::StressOptions{.threads = 2,
                             .iterations = unsafe                        ? 20
                                           : backend == Backend::mariadb ? 300
                                                                         : 1000},
      [&] { clients.refill(); }, [&](int i) { clients.transfer(i, strategy); },
      [&] { return clients.check(); });
  if (unsafe) {
    EXPECT_EQ(report.violations(), report.iterations()) << report;
  } else {
    EXPECT_TRUE(report.ok()) << report;
  }
  EXPECT_EQ(hooks.timeout_count(), 0u);
  hooks.expect_hit("transfer.after_read", 2u * static_cast<std::uint64_t>(report.iterations()));
  std::cout << lab::to_string(backend) << "/" << lab::to_string(strategy) << ": " << report << '\n';
}

std::vector<Param> all_params() {
  std::vector<Param> out;
  for (auto backend : db_env::backends())
    for (auto strategy : lab::kAllStrategies) out.push_back({backend, strategy});
  return out;
}

INSTANTIATE_TEST_SUITE_P(Db, SqlBankStress, testing::ValuesIn(all_params()), name_of);

// Without hooks the race is rare on real threads: measured, not asserted (the barrier test above
// is the deterministic red test). Prints the rate for docs.
TEST(SqlBankRate, UnsafeWithoutHooksIsMeasured) {
  for (auto backend : db_env::backends()) {
    TwoClients clients(backend, Strategy::unsafe, "rate");
    auto report = racelab::stress(
        racelab::StressOptions{.threads = 2, .iterations = 200}, [&] { clients.refill(); },
        [&](int i) { clients.transfer(i, Strategy::unsafe); }, [&] { return clients.check(); });
    EXPECT_EQ(report.iterations(), 200);
    EXPECT_TRUE(report.errors().empty()) << report;
    std::cout << lab::to_string(backend) << " unsafe, no hooks: double-spend in " << report.violations()
              << " of 200 iterations\n";
  }
}

// --- simulation ---------------------------------------------------------------------------------

class SqlBankSimulation : public testing::TestWithParam<Param> {};

TEST_P(SqlBankSimulation, ExploreFindsUnsafeAndPassesSafe) {
  const Backend backend = GetParam().backend;  // not a structured binding: Clang 14 cannot capture one
  const Strategy strategy = GetParam().strategy;
  int lock_waits = 0;  // runs in which a task blocked on the database (a SQLite lock; a server's reply)
  const std::string server_url =
      backend == Backend::sqlite ? "" : db_env::url(backend, "sim_" + std::string(lab::to_string(strategy)));
  auto body = [backend = backend, strategy = strategy, &lock_waits, &server_url](racelab::Simulation& sim) {
    auto url = backend == Backend::sqlite ? db_env::sqlite_memdb("sim_bank") : server_url;
    auto setup = lab::open_db(url);
    SqlBank::reset(*setup, strategy);
    auto a = lab::open_db(url), b = lab::open_db(url);
    int succeeded = 0;
    for (auto [name, db, to] : {std::tuple{"A", a.get(), "bob"}, std::tuple{"B", b.get(), "charlie"}}) {
      sim.spawn(name, [&succeeded, db = db, to = to, strategy] {
        SqlBank bank(*db);
        try {
          succeeded += bank.transfer("alice", to, 800, strategy).status == TransferStatus::success;
        } catch (const lab::DbBusy&) {
        }
      });
    }
    auto out = sim.run();
    for (const auto& step : out.trace().steps())
      if (step.kind == racelab::StepKind::block && (step.point == "sql.wait" || step.point == "sql.busy")) {
        ++lock_waits;
        break;
      }
    if (!out.ok()) return;  // explore reports it
    SqlBank bank(*setup);
    RACELAB_ASSERT(bank.balance("alice") >= 0);
    RACELAB_ASSERT(bank.total() == 1700);
    RACELAB_ASSERT(bank.balance("alice") == 1000 - 800 * succeeded);
  };
  // On a server each run waits for real replies (MariaDB: ~5 ms more per lock wait, confirmed by
  // asking the server), so fewer runs there.
  const int runs = backend == Backend::sqlite ? 150 : backend == Backend::postgres ? 25 : 15;
  auto report = racelab::explore(
      {.runs = runs, .verify = backend == Backend::sqlite, .use_env = false, .jobs = 1}, body);
  if (strategy == Strategy::unsafe) {
    ASSERT_TRUE(report.failed()) << report;
    std::cout << report;
  } else {
    EXPECT_FALSE(report.failed()) << report;
    EXPECT_EQ(report.runs(), runs);
  }
  // The locking strategies' lock waits took part in the search: some run blocked on one.
  if (strategy == Strategy::pessimistic) {
    EXPECT_GT(lock_waits, 0);
  }
  std::cout << lab::to_string(backend) << "/" << lab::to_string(strategy) << ": " << lock_waits << " of "
            << report.runs() << " runs blocked on the database (SQLite: a lock; a server: a pending reply)\n";
}

std::vector<Param> sim_params() {
  std::vector<Param> out;
  for (auto strategy : lab::kAllStrategies) out.push_back({Backend::sqlite, strategy});
  // On PostgreSQL the simulation waits for the server; the locking strategies are the ones whose
  // lock waits must take part in the search.
  for (auto strategy : {Strategy::unsafe, Strategy::pessimistic, Strategy::nowait, Strategy::atomic,
                        Strategy::constraint, Strategy::serializable})
    out.push_back({Backend::postgres, strategy});
  if (lab::has_mariadb())
    for (auto strategy : {Strategy::unsafe, Strategy::pessimistic, Strategy::nowait, Strategy::serializable})
      out.push_back({Backend::mariadb, strategy});
  return out;
}

INSTANTIATE_TEST_SUITE_P(Db, SqlBankSimulation, testing::ValuesIn(sim_params()), name_of);

// A task that crashes inside a transaction (a process dying between two statements) must leave
// nothing behind: its transaction rolls back as it unwinds, so the other task gets the lock and
// the books balance. Crashes are injected at every statement and bank point with probability 0.2
// over 300 seeded runs; the test asserts crashes landed inside transactions. Before, a crash
// injected at the ROLLBACK in ~Tx was swallowed there (the transaction and its lock stayed: a
// deadlock), and one at COMMIT left the transaction open the same way.
class SqlBankCrash : public testing::TestWithParam<Strategy> {};

TEST_P(SqlBankCrash, ACrashedTransactionRollsBackAndTheBooksBalance) {
  const Strategy strategy = GetParam();
  int crashed_in_transaction = 0;
  auto body = [&](racelab::Simulation& sim) {
    auto url = db_env::sqlite_memdb("crash_bank");
    auto setup = lab::open_db(url);
    SqlBank::reset(*setup, strategy);
    auto a = lab::open_db(url), b = lab::open_db(url);
    for (auto [name, db, to] : {std::tuple{"A", a.get(), "bob"}, std::tuple{"B", b.get(), "charlie"}}) {
      sim.spawn(name, [db = db, to = to, strategy] {
        SqlBank bank(*db);
        try {
          static_cast<void>(bank.transfer("alice", to, 300, strategy));
        } catch (const lab::DbBusy&) {
        } catch (const lab::DbConflict&) {
        }
      });
    }
    auto out = sim.run();
    for (const auto& step : out.trace().steps())
      if (step.kind == racelab::StepKind::crash &&
          (step.point == "sql.commit" || step.point == "transfer.between_debit_and_credit" ||
           step.point.starts_with("sql.update"))) {
        ++crashed_in_transaction;
        break;
      }
    if (!out.ok()) return;  // a deadlock or failure: explore reports it
    SqlBank bank(*setup);
    RACELAB_ASSERT(bank.total() == 1700);
    RACELAB_ASSERT(bank.balance("alice") >= 0);
  };
  auto report = racelab::explore({.runs = 300,
                                  .crash_probability = 0.2,
                                  .crash_points = "sql.*,transfer.*",
                                  .use_env = false,
                                  .jobs = 1},
                                 body);
  EXPECT_FALSE(report.failed()) << report;
  EXPECT_GT(crashed_in_transaction, 0);  // the window was entered
}

INSTANTIATE_TEST_SUITE_P(Sqlite, SqlBankCrash,
                         testing::Values(Strategy::pessimistic, Strategy::atomic, Strategy::optimistic,
                                         Strategy::serializable),
                         [](const testing::TestParamInfo<Strategy>& param) {
                           return std::string(lab::to_string(param.param));
                         });

namespace {

// A connection to a schema holding a fresh table t(id, v) with `rows`.
racelab::postgres::Connection fresh_table(const std::string& url, const std::string& rows) {
  auto setup = racelab::postgres::Connection::open(url);
  setup.exec("DROP TABLE IF EXISTS t");
  setup.exec("CREATE TABLE t(id INTEGER PRIMARY KEY, v INTEGER NOT NULL)");
  setup.exec("INSERT INTO t VALUES " + rows);
  return setup;
}

}  // namespace

// Teardown ends on PostgreSQL too: a task parked at sql.wait for a row lock (its UPDATE in flight on
// the server) when the run stops has its statement cancelled, so the ROLLBACK of its transaction
// does not wait behind it for a lock whose holder never runs again (before, teardown hung). The
// lock holder is torn down after it and rolls back: the row is free afterwards.
TEST(SqlBankPostgres, TeardownCancelsAStatementWaitingForALock) {
  const auto url = db_env::postgres("teardown_cancel");
  auto setup = fresh_table(url, "(1, 0)");
  auto waiter_conn = racelab::postgres::Connection::open(url);
  auto holder_conn = racelab::postgres::Connection::open(url);
  racelab::Simulation sim({.seed = 1, .strategy = "dfs:0"});
  sim.spawn("waiter", [&] {  // task 0: torn down first, with its UPDATE still waiting
    racelab::this_thread::sleep_for(std::chrono::milliseconds(1));
    racelab::postgres::Transaction tx(waiter_conn);
    waiter_conn.exec("UPDATE t SET v = v + 1 WHERE id = 1");
    tx.commit();
  });
  sim.spawn("holder", [&] {
    racelab::postgres::Transaction tx(holder_conn);
    holder_conn.exec("UPDATE t SET v = v + 10 WHERE id = 1");
    racelab::this_thread::sleep_for(std::chrono::milliseconds(200));  // holds the row lock
    tx.commit();
  });
  sim.spawn("failer", [] {
    racelab::this_thread::sleep_for(std::chrono::milliseconds(20));
    throw std::runtime_error("stop the run");
  });
  auto out = sim.run();
  EXPECT_EQ(out.kind(), racelab::OutcomeKind::failure) << out;
  EXPECT_NE(out.message().find("failer"), std::string::npos) << out;
  bool waited = false;
  for (const auto& step : out.trace().steps())
    waited = waited || (step.point == "sql.wait" && out.trace().tasks()[step.task] == "waiter");
  EXPECT_TRUE(waited) << out;  // the window: the waiter's UPDATE was waiting on the server
  setup.exec("SET lock_timeout = '2s'");
  setup.exec("UPDATE t SET v = 100 WHERE id = 1");  // both transactions let go of the row
  EXPECT_EQ(setup.query_int64("SELECT v FROM t WHERE id = 1"), std::optional<std::int64_t>(100));
}

// A statement run by a destructor while its task is torn down is collected in bounded real time:
// one that can finish does (it is not reported as cancelled), and one that waits for a row lock
// held by a task that never runs again is cancelled after 2 s instead of hanging teardown.
TEST(SqlBankPostgres, TeardownStatementsInDestructorsFinishOrAreCancelled) {
  const auto url = db_env::postgres("teardown_dtor");
  auto setup = fresh_table(url, "(1, 0), (2, 0)");
  struct Audit {  // bumps a row when it goes out of scope
    racelab::postgres::Connection& conn;
    int id;
    std::string* error;
    ~Audit() {
      try {
        conn.exec("UPDATE t SET v = v + 1 WHERE id = $1", id);
      } catch (const racelab::postgres::Error& e) {
        *error = e.sqlstate() + ": " + e.what();
      }
    }
  };
  auto free_conn = racelab::postgres::Connection::open(url);
  auto locked_conn = racelab::postgres::Connection::open(url);
  auto holder_conn = racelab::postgres::Connection::open(url);
  std::string free_error = "(not run)", locked_error;
  racelab::Simulation sim({.seed = 1, .strategy = "dfs:0"});
  sim.spawn("free", [&] {
    free_error.clear();
    Audit audit{free_conn, 2, &free_error};  // row 2: nobody holds it
    racelab::this_thread::sleep_for(std::chrono::milliseconds(100));
  });
  sim.spawn("locked", [&] {
    Audit audit{locked_conn, 1, &locked_error};  // row 1: the holder's lock
    racelab::this_thread::sleep_for(std::chrono::milliseconds(100));
  });
  sim.spawn("holder", [&] {
    holder_conn.exec("BEGIN");
    holder_conn.exec("UPDATE t SET v = v + 10 WHERE id = 1");
    racelab::this_thread::sleep_for(std::chrono::milliseconds(500));  // parked holding the lock
    holder_conn.exec("COMMIT");
  });
  sim.spawn("failer", [] {
    racelab::this_thread::sleep_for(std::chrono::milliseconds(20));
    throw std::runtime_error("stop the run");
  });
  auto out = sim.run();
  EXPECT_EQ(out.kind(), racelab::OutcomeKind::failure) << out;
  EXPECT_EQ(free_error, "");  // finished, not reported as cancelled
  EXPECT_NE(locked_error.find("57014"), std::string::npos) << locked_error;  // cancelled, not hung
  holder_conn.exec("ROLLBACK");
  EXPECT_EQ(setup.query_int64("SELECT v FROM t WHERE id = 2"), std::optional<std::int64_t>(1));
  EXPECT_EQ(setup.query_int64("SELECT v FROM t WHERE id = 1"), std::optional<std::int64_t>(0));
}

TEST(SqlBank, BadTransfersChangeNothing) {
  auto db = lab::open_db(db_env::sqlite_file("sql_bank_bad"));
  SqlBank::reset(*db, Strategy::atomic);
  SqlBank bank(*db);
  EXPECT_THROW(bank.transfer("alice", "bob", 0, Strategy::atomic), lab::bank::InvalidTransfer);
  EXPECT_THROW(bank.transfer("alice", "alice", 5, Strategy::atomic), lab::bank::InvalidTransfer);
  EXPECT_THROW(bank.transfer("mallory", "bob", 5, Strategy::atomic), lab::bank::UnknownAccount);
  EXPECT_THROW(bank.transfer("alice", "mallory", 5, Strategy::atomic), lab::bank::UnknownAccount);
  EXPECT_EQ(bank.balance("alice"), 1000);
  EXPECT_EQ(bank.total(), 1700);
}

// Two transfers in opposite directions (alice -> bob, bob -> alice), each holding its first row
// when the other arrives: a barrier between the two writes makes both take their first lock before
// either takes its second. Taking rows in request order deadlocks (PostgreSQL aborts one after its
// deadlock_timeout); every transactional strategy takes them in account order, so one simply waits
// (the barrier then times out, which is the point: the second transfer cannot reach it).
class SqlBankLockOrder : public testing::TestWithParam<Strategy> {};

TEST_P(SqlBankLockOrder, OppositeTransfersNeverDeadlock) {
  const Strategy strategy = GetParam();
  auto url = db_env::postgres("lock_order_" + std::string(lab::to_string(strategy)));
  auto setup = lab::open_db(url), a = lab::open_db(url), b = lab::open_db(url);
  SqlBank::reset(*setup, strategy);
  racelab::Hooks hooks;
  hooks.barrier("transfer.between_debit_and_credit", 2, std::chrono::milliseconds(300));
  std::string error_a, error_b;
  auto run = [strategy](lab::Db& db, const char* from, const char* to, std::string& error) {
    try {
      SqlBank bank(db);
      auto r = bank.transfer(from, to, 100, strategy);
      if (r.status != TransferStatus::success) error = "refused";
    } catch (const std::exception& e) {
      error = e.what();
    }
  };
  std::thread ta([&] { run(*a, "alice", "bob", error_a); });
  std::thread tb([&] { run(*b, "bob", "alice", error_b); });
  ta.join();
  tb.join();
  EXPECT_EQ(error_a, "") << "alice -> bob";
  EXPECT_EQ(error_b, "") << "bob -> alice";
  hooks.expect_hit("transfer.between_debit_and_credit", 2);  // both held a first row at the barrier
  SqlBank bank(*setup);
  EXPECT_EQ(bank.balance("alice"), 1000);
  EXPECT_EQ(bank.balance("bob"), 500);
  EXPECT_EQ(bank.total(), 1700);
}

INSTANTIATE_TEST_SUITE_P(Postgres, SqlBankLockOrder,
                         testing::Values(Strategy::pessimistic, Strategy::optimistic, Strategy::atomic,
                                         Strategy::constraint),
                         [](const testing::TestParamInfo<Strategy>& p) {
                           return std::string(lab::to_string(p.param));
                         });
