// The MariaDB adapter on real threads: URLs, round trips, binding, typed errors, isolation levels,
// and faults produced the way MariaDB produces them.
#include <racelab/db/mariadb.hpp>
#include <racelab/racelab.hpp>

#include <gtest/gtest.h>

#include <optional>
#include <string>

#include "mariadb_env.hpp"

using racelab::mariadb::Connection;
using racelab::mariadb::Isolation;
using racelab::mariadb::Transaction;

namespace {

Connection fresh_table(const std::string& url, const std::string& rows) {
  auto db = Connection::open(url);
  db.run_script(
      "DROP TABLE IF EXISTS t; CREATE TABLE t (id INT PRIMARY KEY, v BIGINT NOT NULL, name VARCHAR(64) "
      "UNIQUE, "
      "CHECK (v >= 0)) ENGINE=InnoDB");
  if (!rows.empty()) db.exec("INSERT INTO t (id, v) VALUES " + rows);
  return db;
}

}  // namespace

// The URL's parts are read as written (percent-decoding included), and every malformed URL is
// refused with the expected form in the message, before anything is sent.
TEST(MariaDb, UrlsAreParsedAndMalformedOnesRefused) {
  const auto u = racelab::mariadb::parse_url("mariadb://app:p%40ss@db.local:3307/bank?socket=/run/m.sock");
  EXPECT_EQ(u.user, "app");
  EXPECT_EQ(u.password, "p@ss");
  EXPECT_EQ(u.host, "db.local");
  EXPECT_EQ(u.port, 3307u);
  EXPECT_EQ(u.database, "bank");
  EXPECT_EQ(u.socket, "/run/m.sock");
  EXPECT_EQ(racelab::mariadb::parse_url("mariadb://racelab@127.0.0.1/racelab").port, 3306u);
  for (const char* bad :
       {"postgresql://u@h/db", "mariadb://127.0.0.1:3306/db", "mariadb://u@h:3306", "mariadb://u@h:port/db",
        "mariadb://u@h:70000/db", "mariadb://u@:1/db", "mariadb://u@h/db?sslmode=on", "mariadb://u%4@h/db"}) {
    try {
      Connection::open(bad);
      ADD_FAILURE() << bad << " was accepted";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find("mariadb://user[:password]@host[:port]/database"),
                std::string::npos)
          << e.what();
    }
  }
}

// Nothing listens on port 1: the error says where it tried and what Connector/C found (2002/2003).
TEST(MariaDb, ARefusedConnectionIsAClearError) {
  try {
    Connection::open("mariadb://racelab@127.0.0.1:1/racelab");
    FAIL() << "connected to port 1";
  } catch (const racelab::mariadb::Error& e) {
    EXPECT_TRUE(e.code() == 2002 || e.code() == 2003) << e.code();
    EXPECT_NE(std::string(e.what()).find("cannot connect to mariadb://racelab@127.0.0.1:1/racelab"),
              std::string::npos)
        << e.what();
  }
}

// exec binds each `?` (strings escaped, integers as numbers, nullptr as NULL), leaves a `?` inside
// quotes or comments alone, and reads rows back as text; affected() counts matched rows.
TEST(MariaDb, ExecAndQueryRoundTrip) {
  auto db = fresh_table(mariadb_env::url("round_trip"), "");
  EXPECT_EQ(db.exec("INSERT INTO t (id, v, name) VALUES (?, ?, ?), (?, ?, ?)", 1, 1000, "O'Brien \\ ?", 2,
                    std::int64_t{5'000'000'000}, nullptr)
                .affected(),
            2);
  auto r =
      db.exec("SELECT id, v AS balance, name, '?' AS q /* ? */ FROM t WHERE id >= ? ORDER BY id -- ?\n", 1);
  ASSERT_EQ(r.rows(), 2);
  ASSERT_EQ(r.columns(), 4);
  EXPECT_EQ(r.column_name(1), "balance");
  EXPECT_EQ(r.text(0, 2), "O'Brien \\ ?");
  EXPECT_EQ(r.text(0, 3), "?");
  EXPECT_EQ(r.int64(1, 1), 5'000'000'000);
  EXPECT_TRUE(r.is_null(1, 2));
  EXPECT_FALSE(r.is_null(0, 2));
  EXPECT_EQ(db.query_int64("SELECT v FROM t WHERE name = ?", "O'Brien \\ ?"),
            std::optional<std::int64_t>(1000));
  EXPECT_EQ(db.query_int64("SELECT v FROM t WHERE id = ?", 99), std::nullopt);
  EXPECT_EQ(db.exec("UPDATE t SET v = v WHERE id = ?", 1).affected(), 1);  // matched, not changed
  EXPECT_EQ(db.exec_list("UPDATE t SET v = ? WHERE id = ?", {"7", "2"}).affected(), 1);
  EXPECT_EQ(db.query_int64("SELECT v FROM t WHERE id = 2"), std::optional<std::int64_t>(7));
  EXPECT_THROW(db.exec("SELECT ? + ?", 1), std::invalid_argument);
  EXPECT_THROW(db.exec("SELECT ?", 1, 2), std::invalid_argument);
  EXPECT_THROW(db.exec("SELEKT 1"), racelab::mariadb::Error);
  EXPECT_EQ(db.query_int64("SELECT 40 + 2"), std::optional<std::int64_t>(42));  // still usable after
}

// Duplicate key, CHECK, NOWAIT on a held row and a lock wait past its timeout are typed by
// MariaDB's error number. MariaDB 10.11 answers NOWAIT with 1205, the lock wait timeout's number;
// SKIP LOCKED skips the row.
TEST(MariaDb, ErrorsAreTypedByErrorNumber) {
  const auto url = mariadb_env::url("typed_errors");
  auto db = fresh_table(url, "(1, 10), (2, 20)");
  try {
    db.exec("INSERT INTO t (id, v) VALUES (1, 0)");
    FAIL();
  } catch (const racelab::mariadb::UniqueViolation& e) {
    EXPECT_EQ(e.code(), 1062u);
    EXPECT_EQ(e.sqlstate(), "23000");
  }
  try {
    db.exec("UPDATE t SET v = -1 WHERE id = 2");
    FAIL();
  } catch (const racelab::mariadb::CheckViolation& e) {
    EXPECT_EQ(e.code(), 4025u);
  }
  auto holder = Connection::open(url);
  Transaction held(holder);
  holder.exec("SELECT v FROM t WHERE id = 1 FOR UPDATE");
  auto other = Connection::open(url);
  {
    Transaction tx(other);
    try {
      other.exec("SELECT v FROM t WHERE id = 1 FOR UPDATE NOWAIT");
      FAIL();
    } catch (const racelab::mariadb::LockNotAvailable& e) {
      EXPECT_EQ(e.code(), 1205u);
    }
    auto skipped = other.exec("SELECT id FROM t ORDER BY id FOR UPDATE SKIP LOCKED");
    ASSERT_EQ(skipped.rows(), 1);
    EXPECT_EQ(skipped.int64(0, 0), 2);
  }
  other.exec("SET SESSION innodb_lock_wait_timeout = 1");
  Transaction tx(other);
  EXPECT_THROW(other.exec("UPDATE t SET v = 0 WHERE id = 1"), racelab::mariadb::LockNotAvailable);
}

// Each level behaves as MariaDB documents it, seen from a second connection's writes: READ
// UNCOMMITTED reads an uncommitted write, READ COMMITTED a write committed after its first read,
// REPEATABLE READ keeps its first read's snapshot, SERIALIZABLE's plain read takes a shared lock
// (a writer's NOWAIT is refused). A transaction not committed is rolled back.
TEST(MariaDb, TransactionsRunAtTheirIsolationLevel) {
  const auto url = mariadb_env::url("isolation_levels");
  auto db = fresh_table(url, "(1, 10)");
  auto other = Connection::open(url);
  const auto v = [&db] { return db.query_int64("SELECT v FROM t WHERE id = 1").value_or(-1); };
  {
    Transaction writer(other);
    other.exec("UPDATE t SET v = 50 WHERE id = 1");
    Transaction tx(db, Isolation::read_uncommitted);
    EXPECT_EQ(v(), 50);
  }
  {
    Transaction tx(db, Isolation::read_committed);
    EXPECT_EQ(v(), 10);
    other.exec("UPDATE t SET v = 20 WHERE id = 1");
    EXPECT_EQ(v(), 20);
  }
  {
    Transaction tx(db, Isolation::repeatable_read);
    EXPECT_EQ(v(), 20);
    other.exec("UPDATE t SET v = 30 WHERE id = 1");
    EXPECT_EQ(v(), 20);
  }
  {
    Transaction tx(db, Isolation::serializable);
    EXPECT_EQ(v(), 30);
    Transaction writer(other);
    EXPECT_THROW(other.exec("SELECT v FROM t WHERE id = 1 FOR UPDATE NOWAIT"),
                 racelab::mariadb::LockNotAvailable);
    db.exec("UPDATE t SET v = 31 WHERE id = 1");
  }
  EXPECT_EQ(v(), 30);  // not committed: rolled back
  {
    Transaction tx(db);
    db.exec("UPDATE t SET v = 11 WHERE id = 1");
    tx.commit();
  }
  EXPECT_EQ(v(), 11);
}

// Injected faults, armed on real threads, behave as MariaDB's own errors: a deadlock victim's
// transaction is rolled back, a lock wait timeout fails only the statement, a connection lost
// before a statement or after a COMMIT is ConnectionLost (and that COMMIT took effect).
TEST(MariaDb, FaultsAreProducedAsMariaDbProducesThem) {
  const auto url = mariadb_env::url("faults");
  auto db = fresh_table(url, "(1, 10)");
  {
    racelab::Hooks hooks;
    hooks.fault("sql.update.t", racelab::Fault::deadlock);
    Transaction tx(db);
    db.exec("INSERT INTO t (id, v) VALUES (2, 20)");
    try {
      db.exec("UPDATE t SET v = 0 WHERE id = 1");
      FAIL();
    } catch (const racelab::mariadb::DeadlockDetected& e) {
      EXPECT_EQ(e.code(), 1213u);
      EXPECT_NE(std::string(e.what()).find("(racelab fault deadlock at sql.update.t)"), std::string::npos)
          << e.what();
    }
    EXPECT_EQ(db.query_int64("SELECT @@in_transaction"), std::optional<std::int64_t>(0));
  }
  EXPECT_EQ(db.query_int64("SELECT COUNT(*) FROM t"), std::optional<std::int64_t>(1));  // the INSERT undone
  {
    racelab::Hooks hooks;
    hooks.fault("sql.update.t", racelab::Fault::busy);
    Transaction tx(db);
    db.exec("INSERT INTO t (id, v) VALUES (2, 20)");
    EXPECT_THROW(db.exec("UPDATE t SET v = 0 WHERE id = 1"), racelab::mariadb::LockNotAvailable);
    tx.commit();  // only the statement failed
  }
  EXPECT_EQ(db.query_int64("SELECT COUNT(*) FROM t"), std::optional<std::int64_t>(2));
  {
    racelab::Hooks hooks;
    hooks.fault("sql.select.t", racelab::Fault::timeout);
    EXPECT_THROW(db.exec("SELECT v FROM t"), racelab::mariadb::QueryCanceled);
  }
  {
    racelab::Hooks hooks;
    hooks.fault("sql.commit", racelab::Fault::lost_after_commit);
    auto lost = Connection::open(url);
    Transaction tx(lost);
    lost.exec("UPDATE t SET v = 99 WHERE id = 1");
    EXPECT_THROW(tx.commit(), racelab::mariadb::ConnectionLost);
  }
  EXPECT_EQ(db.query_int64("SELECT v FROM t WHERE id = 1"), std::optional<std::int64_t>(99));
  {
    racelab::Hooks hooks;
    hooks.fault("sql.update.t", racelab::Fault::lost_before);
    auto lost = Connection::open(url);
    EXPECT_THROW(lost.exec("UPDATE t SET v = 1 WHERE id = 1"), racelab::mariadb::ConnectionLost);
  }
  EXPECT_EQ(db.query_int64("SELECT v FROM t WHERE id = 1"), std::optional<std::int64_t>(99));
}
