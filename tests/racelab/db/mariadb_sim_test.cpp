// The MariaDB adapter inside racelab's simulation: statements are points, a statement blocked on
// a row lock blocks its task only (the lock holder runs and commits), InnoDB's deadlocks reach the
// task as DeadlockDetected, and teardown never hangs on a statement waiting for a lock.
#include <racelab/db/mariadb.hpp>
#include <racelab/racelab.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <iostream>
#include <optional>
#include <string>

#include "mariadb_env.hpp"

using racelab::mariadb::Connection;
using racelab::mariadb::Isolation;
using racelab::mariadb::Transaction;

namespace {

bool reached(const racelab::Outcome& out, std::string_view point, std::string_view task = {}) {
  const auto& steps = out.trace().steps();
  return std::any_of(steps.begin(), steps.end(), [&](const racelab::TraceStep& s) {
    return s.point == point && (task.empty() || out.trace().tasks()[s.task] == task);
  });
}

// Two tasks on their own connections each debit alice 800 at REPEATABLE READ: read the balance,
// check it covers 800, write the new balance. `lock` reads with FOR UPDATE. Every schedule of the
// two (DFS without a preemption bound) is run; the body checks that no money was made or lost.
struct CheckThenAct {
  std::string url;
  bool lock;
  int runs_blocked = 0;  // runs in which a task waited at sql.wait while the other ran

  void operator()(racelab::Simulation& sim) {
    auto setup = Connection::open(url);
    setup.exec("UPDATE accounts SET balance = 1000 WHERE id = 'alice'");
    Connection a = Connection::open(url), b = Connection::open(url);
    int debits = 0;
    for (auto [name, db] : {std::pair{"A", &a}, std::pair{"B", &b}}) {
      sim.spawn(name, [this, &debits, db = db] {
        Transaction tx(*db, Isolation::repeatable_read);
        const auto balance = db->query_int64(lock ? "SELECT balance FROM accounts WHERE id = ? FOR UPDATE"
                                                  : "SELECT balance FROM accounts WHERE id = ?",
                                             "alice");
        if (balance.value_or(0) < 800) return;
        db->exec("UPDATE accounts SET balance = ? WHERE id = ?", *balance - 800, "alice");
        tx.commit();
        ++debits;
      });
    }
    auto out = sim.run();
    if (reached(out, "sql.wait")) ++runs_blocked;
    if (!out.ok()) return;  // explore reports it
    const auto alice = setup.query_int64("SELECT balance FROM accounts WHERE id = 'alice'").value_or(-1);
    RACELAB_ASSERT(alice >= 0);
    RACELAB_ASSERT(alice == 1000 - 800 * debits);
  }
};

std::string accounts(const std::string& name) {
  const auto url = mariadb_env::url(name);
  auto db = Connection::open(url);
  db.run_script(
      "DROP TABLE IF EXISTS accounts; CREATE TABLE accounts (id VARCHAR(16) PRIMARY KEY, balance BIGINT NOT "
      "NULL) "
      "ENGINE=InnoDB; INSERT INTO accounts VALUES ('alice', 1000), ('bob', 500)");
  return url;
}

}  // namespace

// One task's transaction: every statement is a point in the trace, named from its SQL.
TEST(MariaDbSimulation, EachStatementIsAPoint) {
  auto conn = Connection::open(accounts("points"));
  racelab::Simulation sim({.seed = 1});
  sim.spawn("A", [&] {
    Transaction tx(conn);
    conn.exec("UPDATE accounts SET balance = balance - 1 WHERE id = ?", "alice");
    conn.exec_named("bank.audit", "SELECT COUNT(*) FROM accounts");
    tx.commit();
  });
  auto out = sim.run();
  ASSERT_TRUE(out.ok()) << out;
  for (const char* point : {"sql.set", "sql.begin", "sql.update.accounts", "bank.audit", "sql.commit"})
    EXPECT_TRUE(reached(out, point, "A")) << point << " not in\n" << out.trace().text();
}

// Red: without a lock the two reads can both see 1000 (each in its own snapshot); both debit, and
// the second write overwrites the first. DFS finds that schedule, deterministically.
TEST(MariaDbSimulation, CheckThenActWithoutLockingLosesAnUpdate) {
  CheckThenAct body{accounts("check_then_act_red"), false};
  auto report =
      racelab::explore({.runs = 5000, .strategy = "dfs", .use_env = false, .jobs = 1}, std::ref(body));
  ASSERT_TRUE(report.failed()) << report;
  EXPECT_NE(report.outcome().message().find("alice == 1000 - 800 * debits"), std::string::npos) << report;
  std::cout << report;
}

// Green: with SELECT … FOR UPDATE, every schedule keeps the books (DFS, all explored). The second
// reader's statement waits on the server for the first's row lock; its task is parked, the first
// task runs on and commits — some run must have blocked that way, or the lock never took part.
TEST(MariaDbSimulation, CheckThenActWithForUpdateHoldsInEverySchedule) {
  CheckThenAct body{accounts("check_then_act_green"), true};
  auto report =
      racelab::explore({.runs = 5000, .strategy = "dfs", .use_env = false, .jobs = 1}, std::ref(body));
  EXPECT_FALSE(report.failed()) << report;
  EXPECT_TRUE(report.complete()) << report.summary();
  EXPECT_GT(body.runs_blocked, 0);
  std::cout << "FOR UPDATE: " << report.runs() << " schedules, " << body.runs_blocked
            << " with a task parked on a row lock\n";
}

// Two tasks lock two rows in opposite order. Some schedule has each hold one row and ask for the
// other: InnoDB picks a victim, whose statement fails with 1213 (its transaction rolled back), and
// the other commits. Every run ends with exactly one outcome per task and consistent rows.
TEST(MariaDbSimulation, OppositeLockOrderIsADeadlockVictimInSomeSchedule) {
  const auto url = accounts("deadlock");
  int runs_with_victim = 0;
  std::string victim_message;
  auto report = racelab::explore(
      {.runs = 5000, .strategy = "dfs", .use_env = false, .jobs = 1}, [&](racelab::Simulation& sim) {
        auto setup = Connection::open(url);
        setup.exec("UPDATE accounts SET balance = 0");
        Connection a = Connection::open(url), b = Connection::open(url);
        int victims = 0, commits = 0;
        for (auto [name, db, first, second] :
             {std::tuple{"A", &a, "alice", "bob"}, std::tuple{"B", &b, "bob", "alice"}}) {
          sim.spawn(name, [&, db = db, first = first, second = second] {
            try {
              Transaction tx(*db);
              db->exec("UPDATE accounts SET balance = balance + 1 WHERE id = ?", first);
              db->exec("UPDATE accounts SET balance = balance + 1 WHERE id = ?", second);
              tx.commit();
              ++commits;
            } catch (const racelab::mariadb::DeadlockDetected& e) {
              ++victims;
              victim_message = e.what();
            }
          });
        }
        auto out = sim.run();
        if (!out.ok()) return;
        runs_with_victim += victims > 0;
        RACELAB_ASSERT(victims + commits == 2);
        RACELAB_ASSERT(victims <= 1);
        const auto total = setup.query_int64("SELECT SUM(balance) FROM accounts").value_or(-1);
        RACELAB_ASSERT(total == 2 * commits);  // the victim's first update was rolled back
      });
  EXPECT_FALSE(report.failed()) << report;
  EXPECT_GT(runs_with_victim, 0) << report.summary();
  EXPECT_NE(victim_message.find("error 1213"), std::string::npos) << victim_message;
  std::cout << runs_with_victim << " of " << report.runs() << " schedules had a deadlock victim\n";
}

// A deadlock whose victim is the parked task. A reads alice, then bob, FOR UPDATE (no undo: the
// lighter transaction, InnoDB's victim); B updates bob, then alice, and closes the cycle. InnoDB
// rolls A back while A's task is parked, and B's statement is answered — inside B's transaction,
// which releases nothing more. B, having alice that A held, then waits in racelab for A to finish. A's error
// must be seen at once (the parked statements settle whenever a statement ends), not when some later
// statement happens to end a transaction: otherwise every task looks blocked and the run is a false deadlock.
// Every schedule runs to its end, and in some A is the victim while parked (the window).
TEST(MariaDbSimulation, AParkedDeadlockVictimIsAnsweredAtTheNextStep) {
  const auto url = accounts("parked_victim");
  int runs_a_victim = 0;
  auto report = racelab::explore(
      {.runs = 5000, .strategy = "dfs", .use_env = false, .jobs = 1}, [&](racelab::Simulation& sim) {
        auto setup = Connection::open(url);
        setup.exec("UPDATE accounts SET balance = 0");
        Connection a = Connection::open(url), b = Connection::open(url);
        bool a_holds_alice = false, a_done = false, a_victim = false, b_committed = false;
        racelab::WaitQueue a_finished;
        sim.spawn("A", [&] {
          try {
            Transaction tx(a);
            static_cast<void>(a.query_int64("SELECT balance FROM accounts WHERE id = 'alice' FOR UPDATE"));
            a_holds_alice = true;
            try {
              static_cast<void>(a.query_int64("SELECT balance FROM accounts WHERE id = 'bob' FOR UPDATE"));
            } catch (const racelab::mariadb::DeadlockDetected&) {
              // Rolled back while parked, not as the one closing the cycle (asked before ~Transaction's
              // ROLLBACK, the connection's next statement).
              a_victim = a.waited_for_lock();
              throw;
            }
            tx.commit();
          } catch (const racelab::mariadb::DeadlockDetected&) {
          }
          a_done = true;
          a_finished.notify_all();
        });
        sim.spawn("B", [&] {
          try {
            Transaction tx(b);
            b.exec("UPDATE accounts SET balance = balance + 1 WHERE id = 'bob'");
            b.exec("UPDATE accounts SET balance = balance + 1 WHERE id = 'alice'");
            // B has alice although A held it: A was rolled back. Its task must learn so and end.
            if (a_holds_alice)
              while (!a_done) static_cast<void>(a_finished.wait("b.awaits_a", "A to finish"));
            tx.commit();
            b_committed = true;
          } catch (const racelab::mariadb::DeadlockDetected&) {
          }
        });
        auto out = sim.run();
        if (!out.ok()) return;  // explore reports it: a false deadlock, every task "blocked"
        runs_a_victim += a_victim;
        const auto total = setup.query_int64("SELECT SUM(balance) FROM accounts").value_or(-1);
        RACELAB_ASSERT(total == (b_committed ? 2 : 0));
      });
  EXPECT_FALSE(report.failed()) << report;
  EXPECT_TRUE(report.complete()) << report.summary();
  EXPECT_GT(runs_a_victim, 0)
      << "no schedule made the parked task InnoDB's victim: the window was never entered";
  std::cout << runs_a_victim << " of " << report.runs() << " schedules rolled the parked task back\n";
}

// Teardown ends on MariaDB: a task parked at sql.wait for a row lock when the run stops has its
// statement killed (KILL QUERY from a second connection), so its ROLLBACK does not wait behind it
// for a lock whose holder never runs again. Afterwards the row is free.
TEST(MariaDbSimulation, TeardownKillsAStatementWaitingForALock) {
  const auto url = accounts("teardown");
  auto setup = Connection::open(url);
  auto waiter_conn = Connection::open(url);
  auto holder_conn = Connection::open(url);
  racelab::Simulation sim({.seed = 1, .strategy = "dfs:0"});
  sim.spawn("waiter", [&] {  // task 0: torn down first, with its UPDATE still waiting
    racelab::this_thread::sleep_for(std::chrono::milliseconds(1));
    Transaction tx(waiter_conn);
    waiter_conn.exec("UPDATE accounts SET balance = 1 WHERE id = 'alice'");
    tx.commit();
  });
  sim.spawn("holder", [&] {
    Transaction tx(holder_conn);
    holder_conn.exec("UPDATE accounts SET balance = 2 WHERE id = 'alice'");
    racelab::this_thread::sleep_for(std::chrono::milliseconds(200));  // holds the row lock
    tx.commit();
  });
  sim.spawn("failer", [] {
    racelab::this_thread::sleep_for(std::chrono::milliseconds(20));
    throw std::runtime_error("stop the run");
  });
  const auto started = std::chrono::steady_clock::now();
  auto out = sim.run();
  EXPECT_EQ(out.kind(), racelab::OutcomeKind::failure) << out;
  EXPECT_TRUE(reached(out, "sql.wait", "waiter")) << out;  // the window: the UPDATE waited on the server
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(20));  // not the 50 s lock wait
  setup.exec("SET SESSION innodb_lock_wait_timeout = 2");
  setup.exec("UPDATE accounts SET balance = 100 WHERE id = 'alice'");  // both let go of the row
  EXPECT_EQ(setup.query_int64("SELECT balance FROM accounts WHERE id = 'alice'"),
            std::optional<std::int64_t>(100));
}
