// Idempotent transfers (bank/idempotency.hpp) on SQLite and PostgreSQL: a retry with the same key is
// answered from the ledger and moves nothing; the key with another transfer is refused; a retry
// racing its original moves money once in every interleaving, where the same two requests without a
// key move it twice (red first).
#include "bank/idempotency.hpp"

#include <racelab/racelab.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

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

std::int64_t rows(lab::Db& db) { return db.query_int64("SELECT count(*) FROM transfers", {}).value(); }

}  // namespace

class Idempotent : public testing::TestWithParam<Param> {};

TEST_P(Idempotent, ARetryIsAnsweredFromTheLedgerAndMovesNothing) {
  const Param p = GetParam();
  auto db = lab::open_db(db_env::url(p.backend, "idem_" + std::string(lab::to_string(p.strategy))));
  SqlBank::reset(*db, p.strategy);
  SqlBank bank(*db);
  auto first = bank.transfer("alice", "bob", 100, p.strategy, "key-1");
  ASSERT_EQ(first.status, TransferStatus::success);
  EXPECT_FALSE(bank.replayed());
  const auto original = bank.recorded();
  EXPECT_EQ(original.idempotency_key, "key-1");

  // The retry (a fresh SqlBank, as a retry on another connection would be) gets the same row back.
  SqlBank retry(*db);
  auto again = retry.transfer("alice", "bob", 100, p.strategy, "key-1");
  EXPECT_TRUE(retry.replayed());
  EXPECT_EQ(again.status, TransferStatus::success);
  EXPECT_EQ(retry.recorded().id, original.id);
  EXPECT_EQ(retry.recorded().timestamp, original.timestamp);
  EXPECT_EQ(again.from_balance_after, 900);
  EXPECT_EQ(retry.balance("alice"), 900);
  EXPECT_EQ(rows(*db), 1);

  // A refusal is remembered too: the retry is refused the same way even after alice can pay.
  auto refused = bank.transfer("charlie", "bob", 5000, p.strategy, "key-2");
  EXPECT_EQ(refused.status, TransferStatus::failed_insufficient_funds);
  static_cast<void>(bank.transfer("alice", "charlie", 900, p.strategy, "key-3"));
  static_cast<void>(bank.transfer("bob", "charlie", 500, p.strategy, "key-4"));  // charlie 1600
  auto refused_again = bank.transfer("charlie", "bob", 5000, p.strategy, "key-2");
  EXPECT_TRUE(bank.replayed());
  EXPECT_EQ(refused_again.status, TransferStatus::failed_insufficient_funds);
  EXPECT_EQ(refused_again.from_balance_before, 200);

  // The key with another transfer is refused, and nothing runs.
  const auto before = rows(*db);
  try {
    static_cast<void>(bank.transfer("alice", "bob", 101, p.strategy, "key-1"));
    FAIL() << "a reused key with another amount ran";
  } catch (const lab::bank::IdempotencyMismatch& e) {
    EXPECT_NE(std::string(e.what()).find("'key-1' was used for another transfer (alice -> bob 100"),
              std::string::npos)
        << e.what();
  }
  EXPECT_THROW(static_cast<void>(bank.transfer("alice", "charlie", 100, p.strategy, "key-1")),
               lab::bank::IdempotencyMismatch);
  EXPECT_THROW(static_cast<void>(bank.transfer("alice", "bob", 100, p.strategy, "bad key")),
               lab::bank::InvalidTransfer);
  EXPECT_EQ(rows(*db), before);
  EXPECT_EQ(bank.balance("alice"), 0);
  EXPECT_TRUE(lab::bank::audit(*db).clean()) << testing::PrintToString(lab::bank::audit(*db).problems());
}

// Two requests with one key at once, on their own connections and threads (two processes would do
// the same): the unique index lets one commit; the other answers with its row. 20 rounds.
TEST_P(Idempotent, TheSameKeyAtOnceOnTwoConnectionsMovesMoneyOnce) {
  const Param p = GetParam();
  auto url = db_env::url(p.backend, "idem_race_" + std::string(lab::to_string(p.strategy)));
  auto setup = lab::open_db(url);
  SqlBank::reset(*setup, p.strategy);
  auto a = lab::open_db(url), b = lab::open_db(url);
  for (int round = 0; round < 20; ++round) {
    const std::string key = "race-" + std::to_string(round);
    std::string ids[2];
    std::atomic<int> ready{0};
    auto send = [&](lab::Db& db, std::string& id) {
      ready += 1;
      while (ready.load() < 2) std::this_thread::yield();
      for (int attempt = 0;; ++attempt) {
        try {
          SqlBank bank(db);
          static_cast<void>(bank.transfer("alice", "bob", 10, p.strategy, key));
          id = bank.recorded().id;
          return;
        } catch (const lab::DbBusy&) {  // nowait: the other holds the row; a client retries
          if (attempt > 1000) throw;
          std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
      }
    };
    std::thread ta([&] { send(*a, ids[0]); });
    std::thread tb([&] { send(*b, ids[1]); });
    ta.join();
    tb.join();
    EXPECT_EQ(ids[0], ids[1]) << "round " << round;
  }
  EXPECT_EQ(SqlBank(*setup).balance("alice"), 1000 - 20 * 10);
  EXPECT_EQ(rows(*setup), 20);
  EXPECT_TRUE(lab::bank::audit(*setup).clean());
}

INSTANTIATE_TEST_SUITE_P(Db, Idempotent, testing::ValuesIn(all_params()), name_of);

namespace {

// A request and its retry, sent at once as tasks "A" and "B" on their own connections (a client that
// timed out and retried while the first was still running): alice -> bob 100, with `key` or none.
// explore checks every interleaving within the bound, on SQLite in memory.
racelab::Report original_and_retry(Strategy strategy, const std::string& key) {
  auto body = [&](racelab::Simulation& sim) {
    auto url = db_env::sqlite_memdb("idem_sim");
    auto setup = lab::open_db(url);
    SqlBank::reset(*setup, strategy);
    auto a = lab::open_db(url), b = lab::open_db(url);
    for (auto [name, db] : {std::pair{"A", a.get()}, std::pair{"B", b.get()}}) {
      sim.spawn(name, [&key, strategy, db = db] {
        for (int attempt = 1;; ++attempt) {
          try {
            static_cast<void>(SqlBank(*db).transfer("alice", "bob", 100, strategy, key));
            return;
          } catch (const lab::DbBusy&) {  // nowait: retry, as the client would
            RACELAB_ASSERT(attempt < 50);
            racelab::this_thread::sleep_for(std::chrono::milliseconds(1));
          }
        }
      });
    }
    if (!sim.run().ok()) return;
    RACELAB_ASSERT(SqlBank(*setup).balance("alice") == 900);  // one transfer of 100, however retried
    RACELAB_ASSERT(lab::bank::audit(*setup).clean());
  };
  return racelab::explore({.runs = 5000, .strategy = "dfs:2", .use_env = false, .jobs = 1}, body);
}

}  // namespace

class IdempotentRetry : public testing::TestWithParam<Strategy> {};

// Red: without a key the retry is a second transfer, in the very first interleaving.
TEST_P(IdempotentRetry, WithoutAKeyARetryMovesMoneyTwice) {
  auto report = original_and_retry(GetParam(), "");
  ASSERT_TRUE(report.failed()) << report;
}

// Green: with one, every interleaving within two preemptions moves 100 once.
TEST_P(IdempotentRetry, WithAKeyEveryInterleavingMovesMoneyOnce) {
  auto report = original_and_retry(GetParam(), "retry-1");
  EXPECT_FALSE(report.failed()) << report;
  EXPECT_TRUE(report.complete()) << report;
  EXPECT_GT(report.runs(), 10);
}

INSTANTIATE_TEST_SUITE_P(Sqlite, IdempotentRetry, testing::ValuesIn(lab::kAllStrategies),
                         [](const testing::TestParamInfo<Strategy>& param) {
                           return std::string(lab::to_string(param.param));
                         });

// The same key on two connections, every interleaving (DFS, up to one preemption): in some runs
// both requests pass the lookup before either commits, and the unique index decides (the loser
// reaches transfer.key_taken and answers with the winner's row). In every run both get one id
// and the money moves once.
TEST(IdempotentRace, WhenBothPassTheLookupTheUniqueIndexDecides) {
  int decided_by_index = 0;
  auto report = racelab::explore(
      {.runs = 20'000, .strategy = "dfs:1", .use_env = false, .jobs = 1}, [&](racelab::Simulation& sim) {
        auto url = db_env::sqlite_memdb("idem_dfs");
        auto setup = lab::open_db(url);
        SqlBank::reset(*setup, Strategy::atomic);
        auto a = lab::open_db(url), b = lab::open_db(url);
        std::string ids[2];
        auto request = [](lab::Db& db, std::string& id) {
          SqlBank bank(db);
          static_cast<void>(bank.transfer("alice", "bob", 10, Strategy::atomic, "same"));
          id = bank.recorded().id;
        };
        sim.spawn("A", [&] { request(*a, ids[0]); });
        sim.spawn("B", [&] { request(*b, ids[1]); });
        const auto out = sim.run();
        if (!out.ok()) return;
        for (const auto& step : out.trace().steps())
          if (step.point == "transfer.key_taken") {
            ++decided_by_index;
            break;
          }
        RACELAB_ASSERT(ids[0] == ids[1]);
        RACELAB_ASSERT(SqlBank(*setup).balance("alice") == 990);
        RACELAB_ASSERT(rows(*setup) == 1);
      });
  EXPECT_FALSE(report.failed()) << report;
  EXPECT_TRUE(report.complete()) << report.runs() << " runs";
  EXPECT_GT(decided_by_index, 0) << "no interleaving had both requests past the lookup";
  std::cout << report.runs() << " interleavings, " << decided_by_index << " decided by the unique index\n";
}
