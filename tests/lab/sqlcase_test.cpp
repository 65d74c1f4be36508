// `racelab sql`'s case files and their search on SQLite and PostgreSQL (lab/sqlcase, docs/sql.md):
// the parser names each mistake with its line; the shipped anomaly cases break at the weak levels
// and hold at the strong ones, each by an exhaustive DFS; the witness replays from its schedule.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>

#include "db_env.hpp"
#include "sqlcase/explore.hpp"

namespace sqlcase = lab::sqlcase;

namespace {

std::string case_path(const std::string& name) {
  return std::string(RACELAB_SQL_CASES) + "/" + name + ".sql";
}

std::string parse_error(const std::string& text) {
  try {
    static_cast<void>(sqlcase::parse(text, "t.sql"));
  } catch (const sqlcase::CaseError& e) {
    return e.what();
  }
  return "(parsed)";
}

std::string sqlite_dir(const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() / ("racelab-sqlcase-" + name);
  std::filesystem::remove_all(dir);
  return "sqlite:" + dir.string();
}

// PostgreSQL, each test in a schema of its own (ctest runs them in parallel).
sqlcase::Options pg(const std::string& level, const std::string& schema) {
  return {.db = db_env::postgres_base(), .level = level, .schema = schema};
}

}  // namespace

TEST(SqlCase, ParsesSessionsSetupCheckAndGset) {
  const auto c = sqlcase::parse(
      "-- a title\n"
      "setup: CREATE TABLE t(n INTEGER);\n"
      "       INSERT INTO t VALUES (1);\n"
      "A: BEGIN; SELECT n FROM t \\gset\n"
      "   UPDATE t SET n = :n + 1; COMMIT;\n"
      "-- a comment between sections\n"
      "B: SELECT 'a;b' FROM t;\n"
      "check: SELECT n = 2 FROM t;\n",
      "t.sql");
  EXPECT_EQ(c.title, "a title");
  ASSERT_EQ(c.setup.size(), 2u);
  EXPECT_EQ(c.setup[1].sql, "INSERT INTO t VALUES (1)");
  EXPECT_EQ(c.setup[1].line, 3);
  ASSERT_EQ(c.sessions.size(), 2u);
  ASSERT_EQ(c.sessions[0].statements.size(), 4u);
  EXPECT_EQ(c.sessions[0].statements[1].sql, "SELECT n FROM t");
  EXPECT_TRUE(c.sessions[0].statements[1].gset);
  EXPECT_EQ(c.sessions[0].statements[2].sql, "UPDATE t SET n = :n + 1");
  EXPECT_EQ(c.sessions[0].statements[2].line, 5);
  EXPECT_EQ(c.sessions[1].statements[0].sql, "SELECT 'a;b' FROM t");  // ';' inside quotes
  ASSERT_TRUE(c.check.has_value());
  EXPECT_EQ(c.check->sql, "SELECT n = 2 FROM t");
}

TEST(SqlCase, EveryMistakeIsNamedWithItsLine) {
  EXPECT_EQ(parse_error("A: SELECT 1\nB: SELECT 2;\n"),
            "t.sql:1: the statement 'SELECT 1' has no ';' at its end (line 1)");
  EXPECT_EQ(parse_error("A: SELECT 1;\nA: SELECT 2;\n"), "t.sql:2: 'A:' appears twice (first at line 1)");
  EXPECT_EQ(parse_error("A: SELECT 1;\n"), "t.sql: a case needs two to four sessions, this one has 1");
  EXPECT_EQ(parse_error("A: BEGIN; SELECT 1;\nB: SELECT 2;\n"),
            "t.sql:1: session A never commits: the transaction it begins here is still open at its end (add "
            "COMMIT; or ROLLBACK;)");
  EXPECT_EQ(parse_error("A: SELECT 'x;\nB: SELECT 2;\n"), "t.sql:1: a quote opened here is never closed");
  EXPECT_EQ(parse_error("setup: SELECT 1 \\gset\nA: SELECT 1;\nB: SELECT 2;\n"),
            "t.sql:1: \\gset keeps values for a session's later statements; 'setup:' has no session");
  EXPECT_EQ(parse_error("A: SELECT 1;\nB: SELECT 2;\ncheck: SELECT 1; SELECT 2;\n"),
            "t.sql:3: 'check:' must be one query (its single value must be true), got 2 statements");
  EXPECT_EQ(parse_error("  SELECT 1;\n"),
            "t.sql:1: an indented line continues a section, but no section has begun");
  EXPECT_EQ(
      parse_error("SELECT 1;\n"),
      "t.sql:1: expected 'setup:', 'check:' or a session 'NAME:' at the start of the line, got 'SELECT 1;'");
  EXPECT_EQ(parse_error("A:\nB: SELECT 1;\n"), "t.sql:1: 'A:' has no statement");
}

TEST(SqlCase, BadLevelsDatabasesAndSetupsAreRunErrors) {
  const auto c = sqlcase::load(case_path("lost_update"));
  EXPECT_THROW(sqlcase::explore(c, {.db = sqlite_dir("bad_level"), .level = "snapshot"}), sqlcase::RunError);
  EXPECT_THROW(sqlcase::explore(c, {.db = "nowhere"}), sqlcase::RunError);
  auto broken = sqlcase::parse("setup: CREATE TABLE;\nA: SELECT 1;\nB: SELECT 2;\n", "broken.sql");
  try {
    static_cast<void>(sqlcase::explore(broken, {.db = sqlite_dir("bad_setup")}));
    FAIL() << "a setup SQLite rejects ran";
  } catch (const sqlcase::RunError& e) {
    EXPECT_NE(std::string(e.what()).find("broken.sql: the setup or check failed on sqlite"),
              std::string::npos)
        << e.what();
  }
}

// The lost update: the second session writes back a stale read in PostgreSQL's read committed (DFS
// finds it, the witness shows both reads of 0 and the check's false), and is refused at repeatable
// read; SQLite never loses it (a writer with a stale snapshot gets SQLITE_BUSY_SNAPSHOT in WAL).
TEST(SqlCase, LostUpdateOccursAtReadCommittedOnly) {
  const auto c = sqlcase::load(case_path("lost_update"));
  auto rc = sqlcase::explore(c, pg("read committed", "racelab_sqlcase_lost"));
  ASSERT_TRUE(rc.report.failed()) << rc.report;
  EXPECT_EQ(rc.backend, "postgresql");
  EXPECT_EQ(rc.check_value, "f");
  const auto timeline = sqlcase::timeline(c, rc.witness);
  EXPECT_NE(timeline.find("UPDATE counter SET n = 0 + 1 WHERE id = 1"), std::string::npos) << timeline;
  int stale_reads = 0;
  for (const auto& step : rc.witness) stale_reads += step.sql.starts_with("SELECT n") && step.result == "(0)";
  EXPECT_EQ(stale_reads, 2) << timeline;
  // Its schedule replays it: the same statements, the same answers.
  auto again = sqlcase::explore(c, {.db = db_env::postgres_base(),
                                    .level = "read committed",
                                    .schedule = rc.report.schedule(),
                                    .schema = "racelab_sqlcase_lost"});
  ASSERT_TRUE(again.report.failed());
  ASSERT_EQ(again.witness.size(), rc.witness.size());
  for (std::size_t i = 0; i < rc.witness.size(); ++i) {
    EXPECT_EQ(again.witness[i].sql, rc.witness[i].sql);
    EXPECT_EQ(again.witness[i].result, rc.witness[i].result);
  }
  for (const char* level : {"repeatable read", "serializable"}) {
    auto r = sqlcase::explore(c, pg(level, "racelab_sqlcase_lost"));
    EXPECT_FALSE(r.report.failed()) << level << ": " << r.report << sqlcase::timeline(c, r.witness);
    EXPECT_TRUE(r.report.complete()) << level;
  }
  for (const char* level : {"deferred wal", "immediate wal", "immediate rollback"}) {
    auto r = sqlcase::explore(c, {.db = sqlite_dir("lost_update"), .level = level});
    EXPECT_FALSE(r.report.failed()) << level << ": " << r.report << sqlcase::timeline(c, r.witness);
    EXPECT_TRUE(r.report.complete()) << level;
  }
}

// Write skew: PostgreSQL's repeatable read (snapshot isolation) lets both doctors go; serializable
// (SSI) aborts one; SQLite's single writer never lets both see two on call and write.
TEST(SqlCase, WriteSkewOccursUnderSnapshotIsolationNotSerializable) {
  const auto c = sqlcase::load(case_path("write_skew"));
  auto rr = sqlcase::explore(c, pg("repeatable read", "racelab_sqlcase_skew"));
  ASSERT_TRUE(rr.report.failed()) << rr.report;
  EXPECT_EQ(rr.check_value, "f");
  auto s = sqlcase::explore(c, pg("serializable", "racelab_sqlcase_skew"));
  EXPECT_FALSE(s.report.failed()) << s.report << sqlcase::timeline(c, s.witness);
  EXPECT_TRUE(s.report.complete());
  auto lite = sqlcase::explore(c, {.db = sqlite_dir("write_skew"), .level = "deferred wal"});
  EXPECT_FALSE(lite.report.failed()) << lite.report << sqlcase::timeline(c, lite.witness);
}

// Read skew shows at read committed (the report reads x before and y after the transfer) and not
// at repeatable read (one snapshot for the whole report).
TEST(SqlCase, ReadSkewOccursAtReadCommittedOnly) {
  const auto c = sqlcase::load(case_path("read_skew"));
  auto rc = sqlcase::explore(c, pg("read committed", "racelab_sqlcase_read"));
  ASSERT_TRUE(rc.report.failed()) << rc.report;
  auto rr = sqlcase::explore(c, pg("repeatable read", "racelab_sqlcase_read"));
  EXPECT_FALSE(rr.report.failed()) << rr.report << sqlcase::timeline(c, rr.witness);
  EXPECT_TRUE(rr.report.complete());
}

// A dirty write is prevented everywhere: the second writer waits for the first's row lock (the
// witness of any run shows a statement that waited, or a deadlock victim on PostgreSQL).
TEST(SqlCase, DirtyWriteIsPreventedAndLockWaitsAreSearched) {
  const auto c = sqlcase::load(case_path("dirty_write"));
  auto options = pg("read committed", "racelab_sqlcase_dirty");
  options.verify = true;  // every passing interleaving replayed from its schedule: the same run
  auto server = sqlcase::explore(c, options);
  EXPECT_TRUE(server.report.notes().empty()) << server.report;
  EXPECT_FALSE(server.report.failed()) << server.report << sqlcase::timeline(c, server.witness);
  EXPECT_TRUE(server.report.complete());
  auto lite = sqlcase::explore(c, {.db = sqlite_dir("dirty_write"), .level = "deferred rollback"});
  EXPECT_FALSE(lite.report.failed()) << lite.report << sqlcase::timeline(c, lite.witness);
}

TEST(SqlCase, CommentsEndAtTheLineAndSectionNamesIgnoreCase) {
  const auto c = sqlcase::parse(
      "Setup: CREATE TABLE t(n INTEGER); -- the table; with a ';' in the comment\n"
      "A: BEGIN; -- take the lock\n"
      "   UPDATE t SET n = 1 WHERE n = '--'; COMMIT;\n"
      "B: SELECT 1;\n"
      "CHECK: SELECT 1;\n",
      "t.sql");
  ASSERT_EQ(c.setup.size(), 1u);
  EXPECT_EQ(c.setup[0].sql, "CREATE TABLE t(n INTEGER)");
  ASSERT_EQ(c.sessions.size(), 2u);
  ASSERT_EQ(c.sessions[0].statements.size(), 3u);
  EXPECT_EQ(c.sessions[0].statements[1].sql, "UPDATE t SET n = 1 WHERE n = '--'");
  EXPECT_TRUE(c.check.has_value());
}

// \gset's values go back as the SQL they were: text (a date too) quoted, a negative number that
// cannot turn `5-:v` into a comment, NULL as NULL. The check holds only if each came back intact.
TEST(SqlCase, GsetValuesRoundTripAsSql) {
  const auto c = sqlcase::parse(
      "setup: CREATE TABLE src(d TEXT, v INTEGER, z INTEGER, s TEXT);\n"
      "       INSERT INTO src VALUES ('2026-12-24', -3, NULL, 'it''s');\n"
      "       CREATE TABLE dst(d TEXT, w INTEGER, z INTEGER, s TEXT);\n"
      "A: SELECT d, v, z, s FROM src \\gset\n"
      "   INSERT INTO dst VALUES (:d, 5-:v, :z, :s);\n"
      "B: SELECT 1;\n"
      "check: SELECT count(*) = 1 FROM dst WHERE d = '2026-12-24' AND w = 8 AND z IS NULL AND s = 'it''s';\n",
      "gset.sql");
  auto r = sqlcase::explore(c, {.db = sqlite_dir("gset")});
  EXPECT_FALSE(r.report.failed()) << r.report << sqlcase::timeline(c, r.witness);
  EXPECT_TRUE(r.report.complete());
}

// A statement the database refuses as SQL (a typo, a missing table) or a :name no \gset set would
// fail in every interleaving and the check would judge nothing: the case is refused instead.
TEST(SqlCase, StatementsTheDatabaseRejectsAreTheCasesError) {
  const auto typo = sqlcase::parse(
      "setup: CREATE TABLE counter(n INTEGER);\nA: UPDATE countr SET n = 1;\nB: SELECT 1;\n", "typo.sql");
  try {
    static_cast<void>(sqlcase::explore(typo, {.db = sqlite_dir("typo")}));
    FAIL() << "a case whose UPDATE names no table ran";
  } catch (const sqlcase::RunError& e) {
    EXPECT_NE(
        std::string(e.what()).find("typo.sql: the database rejects a statement (line 2, session A: 'UPDATE "
                                   "countr SET n = 1'"),
        std::string::npos)
        << e.what();
  }
  const auto unbound =
      sqlcase::parse("A: SELECT 1 AS one \\gset\n   SELECT :two;\nB: SELECT 1;\n", "unbound.sql");
  try {
    static_cast<void>(sqlcase::explore(unbound, pg("read committed", "racelab_sqlcase_unbound")));
    FAIL() << "a case using a :name nothing set ran";
  } catch (const sqlcase::RunError& e) {
    EXPECT_NE(
        std::string(e.what()).find(":two has no value: no \\gset before it returned a column named two (it "
                                   "has :one)"),
        std::string::npos)
        << e.what();
  }
}

// The history recorder's view of a statement: the table, the predicate, the query it reads the rows
// back with, and what it refuses to follow (a refusal is said before any run: SqlHistory in
// tests/cli/sql_history.sh runs the recorder against the databases).
namespace {
lab::sqlcase::Recorder recorder_for(const std::string& backend) {
  return lab::sqlcase::Recorder(backend, "repeatable read",
                                [](const std::string&) {  // the catalog: two tables
                                  lab::sqlcase::Answer a;
                                  a.columns = {"table", "column", "key"};
                                  a.rows = {{"bookings", "room", "0"},
                                            {"bookings", "night", "0"},
                                            {"doctors", "name", "1"},
                                            {"doctors", "on_call", "0"}};
                                  a.nulls.assign(a.rows.size(), std::vector<bool>(3, false));
                                  return a;
                                });
}
}  // namespace

TEST(SqlHistory, ReadsAreOneTableWithTheirPredicate) {
  using Kind = lab::sqlcase::Shape::Kind;
  auto r = recorder_for("postgresql");
  auto s = r.shape("SELECT count(*) AS n FROM doctors AS d WHERE d.on_call = 1 FOR UPDATE");
  EXPECT_EQ(s.kind, Kind::read);
  EXPECT_EQ(s.table, "doctors");
  EXPECT_EQ(s.alias, "d");
  EXPECT_EQ(s.where, "d.on_call = 1");
  EXPECT_TRUE(s.predicate);
  EXPECT_EQ(s.shadow, "SELECT * FROM doctors AS d WHERE d.on_call = 1")
      << "PostgreSQL's locking read saw what a plain read sees now; the plain one never waits";
  s = r.shape("SELECT name FROM doctors WHERE on_call = 1 LIMIT 1 FOR UPDATE SKIP LOCKED");
  EXPECT_EQ(s.shadow, "SELECT name, doctors.* FROM doctors WHERE on_call = 1 LIMIT 1 FOR UPDATE SKIP LOCKED")
      << "which rows SKIP LOCKED skips depends on the locks; with a LIMIT its own columns come first";
  EXPECT_FALSE(s.predicate);
  EXPECT_TRUE(s.tail);
  s = r.shape("SELECT name AS n FROM doctors ORDER BY 1 DESC LIMIT 1");
  EXPECT_EQ(s.shadow, "SELECT name AS n, doctors.* FROM doctors ORDER BY 1 DESC LIMIT 1")
      << "ORDER BY a position or an alias means what it meant";
  s = r.shape("SELECT v AS w FROM doctors WHERE name = 'a)' ORDER BY w");
  EXPECT_EQ(s.shadow, "SELECT * FROM doctors WHERE name = 'a)'")
      << "ORDER BY alone is dropped: it may name an alias";
  EXPECT_EQ(s.where, "name = 'a)'");
  auto maria = recorder_for("mariadb");
  s = maria.shape("SELECT count(*) FROM doctors WHERE name = 'it\\'s' LOCK IN SHARE MODE");
  EXPECT_EQ(
      s.shadow,
      "SET STATEMENT innodb_lock_wait_timeout = 1 FOR SELECT * FROM doctors WHERE name = 'it\\'s' LOCK IN "
      "SHARE MODE")
      << "MariaDB's locking reads see the newest version, not the snapshot";
  s = maria.shape(
      "INSERT INTO bookings SELECT 1, name FROM doctors WHERE on_call = 1 ON DUPLICATE KEY UPDATE room = 2");
  ASSERT_NE(s.reads, nullptr);
  EXPECT_EQ(s.reads->shadow,
            "SET STATEMENT innodb_lock_wait_timeout = 1 FOR SELECT * FROM doctors WHERE on_call = 1 LOCK IN "
            "SHARE MODE")
      << "InnoDB's INSERT … SELECT reads with shared locks at repeatable read";
  s = r.shape("SELECT name FROM Doctors WHERE on_call = 1 AND name <> 'it''s (x' ORDER BY name LIMIT 1");
  EXPECT_EQ(s.table, "doctors");
  EXPECT_EQ(s.where, "on_call = 1 AND name <> 'it''s (x'");
  EXPECT_FALSE(s.predicate) << "a LIMIT returns some of the rows it matched";
  s = r.shape("SELECT name FROM doctors WHERE name IN (SELECT night FROM bookings)");
  EXPECT_FALSE(s.predicate) << "a subquery's rows are not the row's own";
  s = r.shape("SELECT * FROM doctors");
  EXPECT_EQ(s.where, "");
  EXPECT_TRUE(s.predicate);
  EXPECT_EQ(r.shape("SELECT 1").kind, Kind::none);
  EXPECT_EQ(r.shape("BEGIN").kind, Kind::none);
  EXPECT_EQ(r.shape("COMMIT").kind, Kind::none);
}

TEST(SqlHistory, WritesAreOneTableAndGetReturningWhereTheDatabaseHasIt) {
  using Kind = lab::sqlcase::Shape::Kind;
  auto pg = recorder_for("postgresql");
  const std::string update = "UPDATE doctors SET on_call = 0 WHERE name = 'bob'";
  auto s = pg.shape(update);
  EXPECT_EQ(s.kind, Kind::write);
  EXPECT_EQ(s.table, "doctors");
  EXPECT_EQ(pg.rewrite(update, s), update + " RETURNING *");
  EXPECT_FALSE(s.deletes);
  EXPECT_TRUE(pg.shape("DELETE FROM doctors WHERE name = 'bob'").deletes);
  EXPECT_EQ(pg.before(s), "");
  EXPECT_EQ(pg.rewrite("SELECT * FROM doctors", pg.shape("SELECT * FROM doctors")), "SELECT * FROM doctors");
  s = pg.shape("INSERT INTO bookings SELECT 101, '2026-12-24' WHERE 0 = 0");
  EXPECT_EQ(s.table, "bookings");
  EXPECT_EQ(s.reads, nullptr) << "a SELECT of no table reads nothing";
  s = pg.shape("INSERT INTO bookings SELECT 1, name FROM doctors WHERE on_call = 1 ON CONFLICT DO NOTHING");
  ASSERT_NE(s.reads, nullptr);
  EXPECT_EQ(s.reads->shadow, "SELECT * FROM doctors WHERE on_call = 1");
  EXPECT_EQ(s.reads->table, "doctors");
  EXPECT_EQ(s.reads->where, "on_call = 1");
  auto maria = recorder_for("mariadb");
  EXPECT_EQ(maria.rewrite(update, maria.shape(update)), update) << "MariaDB's triggers record the writes";
  EXPECT_EQ(maria.before(maria.shape(update)), "SET @racelab_w = NULL")
      << "whatever a failed write left there";
  const auto triggers = maria.setup_sql();
  ASSERT_EQ(triggers.size(), 6u);
  EXPECT_NE(triggers[1].find("AFTER UPDATE ON `bookings`"), std::string::npos) << triggers[1];
  EXPECT_TRUE(recorder_for("sqlite").setup_sql().empty());
}

TEST(SqlHistory, WhatItCannotFollowIsNamed) {
  auto r = recorder_for("postgresql");
  auto refuses = [&](const std::string& sql, const std::string& why) {
    try {
      static_cast<void>(r.shape(sql));
      ADD_FAILURE() << "followed: " << sql;
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find(why), std::string::npos) << sql << ": " << e.what();
    }
  };
  refuses("SELECT * FROM doctors, bookings", "more than one table");
  refuses("SELECT * FROM doctors d JOIN bookings b ON true", "more than one table");
  refuses("SELECT on_call, count(*) FROM doctors GROUP BY on_call", "GROUP");
  refuses("SELECT 1 FROM doctors UNION SELECT 2 FROM bookings", "UNION");
  refuses("WITH x AS (SELECT 1) SELECT * FROM x", "WITH");
  refuses("SELECT * FROM nowhere", "'nowhere', which is not a table of the setup");
  refuses("UPDATE doctors SET on_call = 0 FROM bookings", "through another table");
  refuses("DELETE FROM doctors USING bookings", "through another table");
  refuses("DELETE FROM doctors RETURNING name", "RETURNING");
  refuses("INSERT INTO bookings SELECT * FROM bookings", "the table its SELECT reads");
  refuses("SAVEPOINT a", "savepoints");
  refuses("MERGE INTO doctors USING bookings ON true WHEN MATCHED THEN DELETE", "MERGE");
  refuses("TRUNCATE doctors", "TRUNCATE");
  refuses("SELECT name INTO x FROM doctors", "INTO");
  refuses("UPDATE doctors d, bookings b SET d.on_call = 0", "through another table");
  refuses("ROLLBACK TO SAVEPOINT a", "savepoints");
}
