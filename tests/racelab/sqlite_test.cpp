// The SQLite RAII layer: typed binds, errors with their class, rollback unless committed.
#include <racelab/db/sqlite.hpp>
#include <racelab/racelab.hpp>

#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <optional>
#include <thread>
#include <vector>

using racelab::sqlite::Connection;
using racelab::sqlite::Transaction;

TEST(Sqlite, BindsStepsAndReads) {
  auto db = Connection::open(":memory:");
  db.exec("CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, n INTEGER)");
  EXPECT_EQ(db.run("INSERT INTO t(name, n) VALUES (?, ?)", "alice", std::int64_t{1000}), 1);
  EXPECT_EQ(db.query_int64("SELECT n FROM t WHERE name = ?", "alice"), 1000);
  EXPECT_EQ(db.query_int64("SELECT n FROM t WHERE name = ?", "nobody"), std::nullopt);
  auto stmt = db.prepare("SELECT name FROM t");
  ASSERT_TRUE(stmt.step());
  EXPECT_EQ(stmt.column_text(0), "alice");
  EXPECT_FALSE(stmt.step());
}

TEST(Sqlite, ConstraintViolationsAreTyped) {
  auto db = Connection::open(":memory:");
  db.exec("CREATE TABLE t(n INTEGER CHECK (n >= 0))");
  EXPECT_THROW(db.run("INSERT INTO t VALUES (?)", -1), racelab::sqlite::ConstraintViolation);
  EXPECT_THROW(db.exec("SELEKT 1"), racelab::sqlite::Error);
}

TEST(Sqlite, TransactionRollsBackUnlessCommitted) {
  auto db = Connection::open(":memory:");
  db.exec("CREATE TABLE t(n INTEGER)");
  {
    Transaction tx(db);
    db.run("INSERT INTO t VALUES (1)");
  }
  EXPECT_EQ(db.query_int64("SELECT count(*) FROM t"), 0);
  {
    Transaction tx(db, Transaction::Mode::immediate);
    db.run("INSERT INTO t VALUES (1)");
    tx.commit();
  }
  EXPECT_EQ(db.query_int64("SELECT count(*) FROM t"), 1);
}

// A held write lock makes the second writer wait out its busy timeout and throw Busy.
TEST(Sqlite, BusyAfterTheTimeout) {
  auto path = std::filesystem::temp_directory_path() / "racelab_sqlite_busy_test.db";
  std::filesystem::remove(path);
  auto a = Connection::open(path.string(), {.wal = true});
  auto b = Connection::open(path.string(), {.wal = true, .busy_timeout = std::chrono::milliseconds(20)});
  a.exec("CREATE TABLE t(n INTEGER)");
  Transaction hold(a, Transaction::Mode::immediate);
  EXPECT_THROW(Transaction(b, Transaction::Mode::immediate), racelab::sqlite::Busy);
}

TEST(Sqlite, OpenFailureNamesThePath) {
  try {
    (void)Connection::open("/nonexistent-dir/x.db");
    FAIL();
  } catch (const racelab::sqlite::Error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent-dir/x.db"), std::string::npos) << e.what();
  }
}

// Many writers of one process on one file: every lock wait ends in the lock (queued for a turn,
// woken by the release), none in Busy, and no increment is lost. Run under ASan and TSan too.
TEST(Sqlite, ContendedWritersAllGetTheLock) {
  auto path = std::filesystem::temp_directory_path() /  // per process: runs of the suite may overlap
              ("racelab_sqlite_contended_test_" + std::to_string(::getpid()) + ".db");
  for (auto suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path.string() + suffix);
  {
    auto setup = Connection::open(path.string(), {.wal = true});
    setup.exec("CREATE TABLE counter(id INTEGER PRIMARY KEY, n INTEGER NOT NULL)");
    setup.exec("INSERT INTO counter VALUES (1, 0)");
  }
  constexpr int kThreads = 8, kIncrements = 100;
  std::atomic<int> busy{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&] {
      auto db = Connection::open(path.string(), {.wal = true, .busy_timeout = std::chrono::seconds(30)});
      for (int i = 0; i < kIncrements; ++i) {
        try {
          Transaction tx(db, Transaction::Mode::immediate);
          db.run("UPDATE counter SET n = n + 1 WHERE id = 1");
          tx.commit();
        } catch (const racelab::sqlite::Busy&) {
          ++busy;
        }
      }
    });
  for (auto& t : threads) t.join();
  auto db = Connection::open(path.string());
  EXPECT_EQ(busy.load(), 0);
  EXPECT_EQ(db.query_int64("SELECT n FROM counter WHERE id = 1"), kThreads * kIncrements);
}

// The statement cache: the same SQL twice at once gets two statements; a finished one is reused
// with fresh bindings; a Statement outliving its Connection is still safe (ASan checks it).
TEST(Sqlite, CachedStatementsAreReusedAndIndependent) {
  auto db = Connection::open(":memory:");
  db.exec("CREATE TABLE t(n INTEGER)");
  for (int i = 1; i <= 3; ++i) db.run("INSERT INTO t VALUES (?)", i);
  const char* sql = "SELECT n FROM t WHERE n >= ? ORDER BY n";
  auto outer = db.prepare(sql);
  outer.bind(1, 2);
  ASSERT_TRUE(outer.step());
  {
    auto inner = db.prepare(sql);  // the cached one is busy: a second, independent statement
    inner.bind(1, 1);
    ASSERT_TRUE(inner.step());
    EXPECT_EQ(inner.column_int64(0), 1);
  }
  EXPECT_EQ(outer.column_int64(0), 2);
  ASSERT_TRUE(outer.step());
  EXPECT_EQ(outer.column_int64(0), 3);
  EXPECT_FALSE(outer.step());
  for (int round = 0; round < 2; ++round) {  // reused: reset, bindings cleared, bound again
    auto again = db.prepare(sql);
    again.bind(1, 3);
    ASSERT_TRUE(again.step());
    EXPECT_EQ(again.column_int64(0), 3);
  }
}

TEST(Sqlite, AStatementMayOutliveItsConnection) {
  std::optional<racelab::sqlite::Statement> kept;
  {
    auto db = Connection::open(":memory:");
    db.exec("CREATE TABLE t(n INTEGER)");
    db.run("INSERT INTO t VALUES (7)");
    kept.emplace(db.prepare("SELECT n FROM t"));
    ASSERT_TRUE(kept->step());
  }
  EXPECT_EQ(kept->column_int64(0), 7);
  kept.reset();  // finalizes the orphaned statement, which completes the connection's close
}

// Nothing unwinds through SQLite's C frames: a task parked in the busy handler (inside
// sqlite3_step) when the run is torn down leaves the handler by returning, so the exception that
// unwinds it is the adapter's sqlite::Busy, thrown by C++ after sqlite3_step returned (before,
// racelab's unwind signal was thrown from the handler, through SQLite). Afterwards the lock is
// free: the holder's transaction was rolled back as it unwound.
TEST(Sqlite, TeardownLeavesTheBusyHandlerByReturning) {
  const std::string path = "file:/teardown_busy?vfs=memdb";
  auto setup = racelab::sqlite::Connection::open(path, {.uri = true});
  setup.exec("CREATE TABLE t(x INTEGER)");
  auto holder = racelab::sqlite::Connection::open(path, {.uri = true});
  auto waiter = racelab::sqlite::Connection::open(path, {.uri = true});
  bool busy_seen_in_teardown = false;
  racelab::Simulation sim({.seed = 1, .strategy = "dfs:0"});
  sim.spawn("holder", [&] {
    racelab::sqlite::Transaction tx(holder, racelab::sqlite::Transaction::Mode::immediate);
    holder.exec("INSERT INTO t VALUES (1)");
    racelab::this_thread::sleep_for(std::chrono::milliseconds(100));  // holds the write lock
  });
  sim.spawn("waiter", [&] {
    try {
      waiter.exec("BEGIN IMMEDIATE");  // waits in the busy handler for the holder's lock
    } catch (const racelab::sqlite::Busy&) {
      busy_seen_in_teardown = racelab::abandoned();
      throw;
    }
  });
  sim.spawn("failer", [] {
    racelab::this_thread::sleep_for(std::chrono::milliseconds(10));
    throw std::runtime_error("stop the run");
  });
  auto out = sim.run();
  EXPECT_EQ(out.kind(), racelab::OutcomeKind::failure) << out;
  bool waited = false;
  for (const auto& step : out.trace().steps()) waited = waited || step.point == "sql.busy";
  EXPECT_TRUE(waited) << out;  // the window: the waiter was in the busy handler
  EXPECT_TRUE(busy_seen_in_teardown);
  setup.exec("BEGIN IMMEDIATE");  // the holder's lock was released
  setup.exec("ROLLBACK");
}
