// The bank's durable ledger and its audit, on SQLite and PostgreSQL: every transfer is a row written
// in the transaction that moved its money, and the audit explains every balance from it. The crash
// pair is red first: a ledger written after the balances' COMMIT loses rows when a task crashes in
// between; the same crash inside the transfer's transaction leaves the books balanced.
#include "bank/ledger.hpp"

#include <racelab/racelab.hpp>

#include <gtest/gtest.h>

#include <ostream>
#include <tuple>

#include "bank/sql_bank.hpp"
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

void PrintTo(const Param& p, std::ostream* out) {
  *out << lab::to_string(p.backend) << '/' << lab::to_string(p.strategy);
}

std::string name_of(const testing::TestParamInfo<Param>& info) {
  return std::string(lab::to_string(info.param.backend)) + "_" +
         std::string(lab::to_string(info.param.strategy));
}

std::vector<Param> all_params() {
  std::vector<Param> out;
  for (auto backend : {Backend::sqlite, Backend::postgres})
    for (auto strategy : lab::kAllStrategies) out.push_back({backend, strategy});
  return out;
}

}  // namespace

class LedgerRows : public testing::TestWithParam<Param> {};

// A success and a refusal under each strategy: two rows, newest first, with the balances each saw;
// after the connection is closed and another opened they are still there, and the audit is clean.
TEST_P(LedgerRows, EveryTransferIsARowThatOutlivesItsConnection) {
  const Param p = GetParam();
  auto url = db_env::url(p.backend, "ledger_rows_" + std::string(lab::to_string(p.strategy)));
  {
    auto db = lab::open_db(url);
    SqlBank::reset(*db, p.strategy);
    SqlBank bank(*db);
    auto ok = bank.transfer("alice", "bob", 300, p.strategy);
    EXPECT_EQ(ok.status, TransferStatus::success);
    EXPECT_EQ(bank.recorded().id, "tx-000001");
    auto refused = bank.transfer("charlie", "bob", 5000, p.strategy);
    EXPECT_EQ(refused.status, TransferStatus::failed_insufficient_funds);
    EXPECT_EQ(bank.recorded().id, "tx-000002");
  }
  auto db = lab::open_db(url);
  auto rows = lab::bank::ledger::recent(*db, 10);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].id, "tx-000002");
  EXPECT_EQ(rows[0].status, "failed_insufficient_funds");
  EXPECT_EQ(rows[0].from_balance_before, 200);
  EXPECT_EQ(rows[0].from_balance_after, 200);
  EXPECT_EQ(rows[1].id, "tx-000001");
  EXPECT_EQ(rows[1].from, "alice");
  EXPECT_EQ(rows[1].to, "bob");
  EXPECT_EQ(rows[1].amount, 300);
  EXPECT_EQ(rows[1].status, "success");
  EXPECT_EQ(rows[1].strategy, lab::to_string(p.strategy));
  EXPECT_EQ(rows[1].from_balance_before, 1000);
  EXPECT_EQ(rows[1].from_balance_after, 700);
  EXPECT_EQ(rows[1].to_balance_before, 500);
  EXPECT_EQ(rows[1].to_balance_after, 800);
  EXPECT_FALSE(rows[1].timestamp.empty());
  auto audit = lab::bank::audit(*db);
  EXPECT_TRUE(audit.clean()) << testing::PrintToString(audit.problems());
  EXPECT_EQ(audit.money_total, 1700);
  EXPECT_EQ(audit.ledger_rows, 2);
  EXPECT_EQ(audit.ledger_successes, 1);
  // A reset empties the ledger and starts its ids again.
  SqlBank::reset(*db, p.strategy);
  EXPECT_TRUE(lab::bank::ledger::recent(*db, 10).empty());
}

INSTANTIATE_TEST_SUITE_P(Db, LedgerRows, testing::ValuesIn(all_params()), name_of);

// The audit's three checks, each made to fail by the defect it looks for.
TEST(Audit, FindsABalanceTheLedgerDoesNotExplain) {
  auto db = lab::open_db(db_env::sqlite_file("audit_tamper"));
  SqlBank::reset(*db, Strategy::atomic);
  static_cast<void>(SqlBank(*db).transfer("alice", "bob", 100, Strategy::atomic));
  ASSERT_TRUE(lab::bank::audit(*db).clean());
  db->run("UPDATE accounts SET balance = balance - 50 WHERE id = 'bob'", {});  // money moved, no row
  auto audit = lab::bank::audit(*db);
  ASSERT_FALSE(audit.clean());
  auto problems = testing::PrintToString(audit.problems());
  EXPECT_NE(problems.find("money not conserved: 1650 in the accounts, 1700 expected"), std::string::npos)
      << problems;
  EXPECT_NE(problems.find("account 'bob' holds 550 but opened with 500 and the ledger moved 100"),
            std::string::npos)
      << problems;
}

TEST(Audit, FindsANegativeBalanceTheLedgerExplains) {
  auto db = lab::open_db(db_env::sqlite_file("audit_negative"));
  SqlBank::reset(*db, Strategy::unsafe);
  // What a double spend leaves: both debits in the ledger, alice below zero, every balance explained.
  db->run("UPDATE accounts SET balance = -600 WHERE id = 'alice'", {});
  db->run("UPDATE accounts SET balance = 1300 WHERE id = 'bob'", {});
  db->run("UPDATE accounts SET balance = 1000 WHERE id = 'charlie'", {});
  for (auto [to, before] : {std::tuple{"bob", 500}, std::tuple{"charlie", 200}})
    lab::bank::ledger::record(*db, "alice", to, 800, Strategy::unsafe,
                              {TransferStatus::success, 1000, 200, before, before + 800});
  auto audit = lab::bank::audit(*db);
  auto problems = audit.problems();
  ASSERT_EQ(problems.size(), 1u) << testing::PrintToString(problems);
  EXPECT_EQ(problems[0], "account 'alice' is negative: -600");
}

TEST(Audit, ADatabaseWithoutABankIsNoLedger) {
  auto db = lab::open_db(db_env::sqlite_file("audit_empty"));
  EXPECT_THROW(lab::bank::audit(*db), lab::bank::NoLedger);
  db->script("CREATE TABLE accounts(id TEXT PRIMARY KEY, balance BIGINT NOT NULL)");  // before the ledger
  EXPECT_THROW(lab::bank::audit(*db), lab::bank::NoLedger);
  EXPECT_THROW(lab::bank::ledger::recent(*db, 5), lab::bank::NoLedger);
}

// --- red first: where the ledger row is written -------------------------------------------------

namespace {

// The defect the ledger must not have: the balances commit, then the row is written on its own
// (a log kept beside the transaction). A crash between the two loses the row.
void transfer_then_log(lab::Db& db, const std::string& from, const std::string& to, std::int64_t amount) {
  lab::bank::TransferResult r;
  {
    lab::Tx tx(db, lab::TxMode::write);
    auto now = db.query_int64("SELECT balance FROM accounts WHERE id = ?", {from}).value();
    auto to_now = db.query_int64("SELECT balance FROM accounts WHERE id = ?", {to}).value();
    if (now < amount) return;
    db.run("UPDATE accounts SET balance = balance - ? WHERE id = ?", {amount, from});
    db.run("UPDATE accounts SET balance = balance + ? WHERE id = ?", {amount, to});
    tx.commit();
    r = {TransferStatus::success, now, now - amount, to_now, to_now + amount};
  }
  lab::bank::ledger::record(db, from, to, amount, Strategy::pessimistic, r);  // passes transfer.before_ledger
}

struct CrashRun {
  racelab::Report report;
  int crashed_before_ledger = 0;  // runs in which a crash landed at transfer.before_ledger
};

// Two tasks transfer 300 from alice (to bob, to charlie) on their own connections with crashes
// injected at `crash_points`; after each run the audit must be clean.
template <class Transfer>
CrashRun crash_between_balances_and_ledger(const char* crash_points, Transfer transfer) {
  CrashRun result;
  auto body = [&](racelab::Simulation& sim) {
    auto url = db_env::sqlite_memdb("ledger_crash");
    auto setup = lab::open_db(url);
    SqlBank::reset(*setup, Strategy::pessimistic);
    auto a = lab::open_db(url), b = lab::open_db(url);
    for (auto [name, db, to] : {std::tuple{"A", a.get(), "bob"}, std::tuple{"B", b.get(), "charlie"}}) {
      sim.spawn(name, [&transfer, db = db, to = to] {
        try {
          transfer(*db, "alice", to, 300);
        } catch (const lab::DbBusy&) {
        } catch (const lab::DbConflict&) {
        }
      });
    }
    auto out = sim.run();
    for (const auto& step : out.trace().steps())
      if (step.kind == racelab::StepKind::crash && step.point == "transfer.before_ledger") {
        ++result.crashed_before_ledger;
        break;
      }
    if (!out.ok()) return;
    RACELAB_ASSERT(lab::bank::audit(*setup).clean());
  };
  result.report = racelab::explore(
      {.runs = 200, .crash_probability = 0.3, .crash_points = crash_points, .use_env = false, .jobs = 1},
      body);
  return result;
}

}  // namespace

// Red: a crash at transfer.before_ledger after the balances committed leaves money the ledger does
// not explain; explore finds it.
TEST(LedgerCrash, ARowWrittenAfterTheCommitIsLostByACrash) {
  auto run = crash_between_balances_and_ledger(
      "transfer.before_ledger", [](lab::Db& db, const std::string& from, const std::string& to,
                                   std::int64_t amount) { transfer_then_log(db, from, to, amount); });
  ASSERT_TRUE(run.report.failed()) << run.report;
  EXPECT_GT(run.crashed_before_ledger, 0);
  std::cout << run.report;
}

class LedgerCrashSafe : public testing::TestWithParam<Strategy> {};

// Green: the same crash, and crashes at every statement and bank point, inside the transfer's own
// transaction roll back the balances with the row; the audit is clean in every run.
TEST_P(LedgerCrashSafe, ARowWrittenInTheTransactionNeverIs) {
  const Strategy strategy = GetParam();
  auto run = crash_between_balances_and_ledger(
      "sql.*,transfer.*",
      [strategy](lab::Db& db, const std::string& from, const std::string& to, std::int64_t amount) {
        static_cast<void>(SqlBank(db).transfer(from, to, amount, strategy));
      });
  EXPECT_FALSE(run.report.failed()) << run.report;
  EXPECT_GT(run.crashed_before_ledger, 0);  // the window was entered
}

INSTANTIATE_TEST_SUITE_P(Sqlite, LedgerCrashSafe, testing::ValuesIn(lab::kAllStrategies),
                         [](const testing::TestParamInfo<Strategy>& param) {
                           return std::string(lab::to_string(param.param));
                         });
