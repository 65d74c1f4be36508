// The SQLite RAII layer: typed binds, errors with their class, rollback unless committed.
#include <racelab/db/sqlite.hpp>

#include <gtest/gtest.h>

#include <filesystem>

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
