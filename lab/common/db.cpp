#include "common/db.hpp"

#ifdef RACELAB_LAB_MARIADB
#include <racelab/db/mariadb.hpp>
#endif
#include <racelab/db/postgres.hpp>
#include <racelab/db/sqlite.hpp>
#include <racelab/sim/sync.hpp>

#include <sqlite3.h>

#include <algorithm>
#include <random>
#include <thread>

namespace lab {
namespace {

class SqliteDb final : public Db {
 public:
  SqliteDb(const std::string& path, bool memdb)
      : conn_(racelab::sqlite::Connection::open(path, {.wal = !memdb, .uri = memdb})) {
    if (!memdb) conn_.exec("PRAGMA synchronous=NORMAL");
  }
  Backend backend() const override { return Backend::sqlite; }
  void script(std::string_view sql) override {
    guard([&] { conn_.exec(sql); });
  }
  std::optional<std::int64_t> query_int64(std::string_view sql,
                                          std::initializer_list<DbParam> params) override {
    return guard([&]() -> std::optional<std::int64_t> {
      auto stmt = prepared(sql, params);
      if (!stmt.step()) return std::nullopt;
      std::optional<std::int64_t> value;
      if (!stmt.column_is_null(0)) value = stmt.column_int64(0);
      while (stmt.step()) {  // finish the statement, so its locks go now (UPDATE … RETURNING)
      }
      return value;
    });
  }
  std::int64_t run(std::string_view sql, std::initializer_list<DbParam> params) override {
    return guard([&] {
      auto stmt = prepared(sql, params);
      while (stmt.step()) {
      }
      return conn_.changes();
    });
  }
  std::vector<std::vector<std::string>> query_text(std::string_view sql,
                                                   std::initializer_list<DbParam> params) override {
    return guard([&] {
      std::vector<std::vector<std::string>> rows;
      auto stmt = prepared(sql, params);
      while (stmt.step()) {
        auto& row = rows.emplace_back();
        for (int c = 0; c < stmt.column_count(); ++c) row.push_back(stmt.column_text(c));
      }
      return rows;
    });
  }
  void begin(TxMode mode) override {
    guard([&] { conn_.exec(mode == TxMode::write ? "BEGIN IMMEDIATE" : "BEGIN"); });
  }
  void commit() override {
    guard([&] { conn_.exec("COMMIT"); });
  }
  void rollback() noexcept override {
    // Runs in ~Tx, also while a crashed or abandoned task unwinds: nothing may be thrown into it
    // here (no injected crash, no unwind signal), so the ROLLBACK really runs and the dead task's
    // locks go with it.
    racelab::NoThrowScope in_rollback;
    try {
      if (conn_.in_transaction()) conn_.exec("ROLLBACK");
    } catch (...) {
    }
  }
  void set_lock_timeout(std::chrono::milliseconds timeout) override { conn_.set_busy_timeout(timeout); }

 private:
  racelab::sqlite::Statement prepared(std::string_view sql, std::initializer_list<DbParam> params) {
    auto stmt = conn_.prepare(sql);
    int i = 0;
    for (const auto& p : params) {
      ++i;
      if (const auto* n = std::get_if<std::int64_t>(&p))
        stmt.bind(i, *n);
      else
        stmt.bind(i, std::get<std::string>(p));
    }
    return stmt;
  }
  template <class Fn>
  auto guard(Fn fn) -> decltype(fn()) {
    try {
      return fn();
    } catch (const racelab::sqlite::Busy& e) {
      // In a transaction that already read, SQLite cannot wait for the write lock (it would
      // deadlock): that is a conflict to retry. Otherwise a lock we were told not to wait for.
      if ((e.code() & 0xff) == SQLITE_BUSY && (e.code() == SQLITE_BUSY_SNAPSHOT || conn_.in_transaction()))
        throw DbConflict(e.what());
      throw DbBusy(e.what());
    } catch (const racelab::sqlite::ConstraintViolation& e) {
      throw DbConstraint(e.what());
    } catch (const racelab::sqlite::Error& e) {
      if ((e.code() & 0xff) == SQLITE_IOERR) throw DbLost(e.what());
      if ((e.code() & 0xff) == SQLITE_INTERRUPT) throw DbTimeout(e.what());
      throw;
    }
  }
  racelab::sqlite::Connection conn_;
};

// What PostgresDb and MariaDb share: queries through the derived class's `guard` (its errors made
// lab errors) and `exec` (the lab's `?` parameters bound as its driver binds them).
template <class Derived>
class ServerDb : public Db {
 public:
  std::optional<std::int64_t> query_int64(std::string_view sql,
                                          std::initializer_list<DbParam> params) override {
    return self().guard([&]() -> std::optional<std::int64_t> {
      auto r = self().exec(sql, params);
      if (r.rows() == 0 || r.is_null(0, 0)) return std::nullopt;
      return r.int64(0, 0);
    });
  }
  std::int64_t run(std::string_view sql, std::initializer_list<DbParam> params) override {
    return self().guard([&] { return self().exec(sql, params).affected(); });
  }
  std::vector<std::vector<std::string>> query_text(std::string_view sql,
                                                   std::initializer_list<DbParam> params) override {
    return self().guard([&] {
      auto r = self().exec(sql, params);
      std::vector<std::vector<std::string>> rows;
      for (int i = 0; i < r.rows(); ++i) {
        auto& row = rows.emplace_back();
        for (int c = 0; c < r.columns(); ++c) row.push_back(r.is_null(i, c) ? "" : r.text(i, c));
      }
      return rows;
    });
  }

 private:
  Derived& self() { return static_cast<Derived&>(*this); }
};

class PostgresDb final : public ServerDb<PostgresDb> {
 public:
  explicit PostgresDb(const std::string& conninfo)
      : conninfo_(conninfo), conn_(racelab::postgres::Connection::open(conninfo)) {}
  Backend backend() const override { return Backend::postgres; }
  void script(std::string_view sql) override {
    guard([&] { conn_.run_script(sql); });
  }
  void begin(TxMode mode) override {
    guard([&] {
      conn_.exec(mode == TxMode::serializable ? "BEGIN ISOLATION LEVEL SERIALIZABLE" : "BEGIN");
      if (lock_timeout_ms_ >= 0)
        conn_.exec("SET LOCAL lock_timeout = " + std::to_string(std::max<long>(lock_timeout_ms_, 1)));
    });
  }
  void commit() override {
    guard([&] { conn_.exec("COMMIT"); });
  }
  void rollback() noexcept override {
    // Runs in ~Tx, also while a crashed or abandoned task unwinds: nothing may be thrown into it
    // here (no injected crash, no unwind signal), so the ROLLBACK really runs and the dead task's
    // locks go with it.
    racelab::NoThrowScope in_rollback;
    if (lost_) return;  // the server rolled back when the connection went
    try {
      conn_.exec("ROLLBACK");
    } catch (...) {
    }
  }
  void set_lock_timeout(std::chrono::milliseconds timeout) override { lock_timeout_ms_ = timeout.count(); }

 private:
  friend class ServerDb<PostgresDb>;
  racelab::postgres::Result exec(std::string_view sql, std::initializer_list<DbParam> params) {
    // `?` -> $1, $2, … (the lab's SQL has no `?` inside string literals).
    std::string text;
    int n = 0;
    for (char c : sql) {
      if (c == '?') {
        text += '$';  // appended, not "$" + std::to_string(…): GCC 12 -O3's false -Wrestrict
        text += std::to_string(++n);
      } else {
        text += c;
      }
    }
    std::vector<std::optional<std::string>> values;
    for (const auto& p : params)
      values.emplace_back(std::holds_alternative<std::int64_t>(p) ? std::to_string(std::get<std::int64_t>(p))
                                                                  : std::get<std::string>(p));
    return conn_.exec_list(text, values);
  }
  template <class Fn>
  auto guard(Fn fn) -> decltype(fn()) {
    if (lost_) {  // a lost connection is replaced on next use, as a pool replaces it
      conn_ = racelab::postgres::Connection::open(conninfo_);
      lost_ = false;
    }
    try {
      return fn();
    } catch (const racelab::postgres::ConnectionLost& e) {
      lost_ = true;
      throw DbLost(e.what());
    } catch (const racelab::postgres::QueryCanceled& e) {
      throw DbTimeout(e.what());
    } catch (const racelab::postgres::SerializationFailure& e) {
      throw DbConflict(e.what());
    } catch (const racelab::postgres::DeadlockDetected& e) {
      throw DbConflict(e.what());
    } catch (const racelab::postgres::LockNotAvailable& e) {
      throw DbBusy(e.what());
    } catch (const racelab::postgres::UniqueViolation& e) {
      throw DbConstraint(e.what());
    } catch (const racelab::postgres::CheckViolation& e) {
      throw DbConstraint(e.what());
    }
  }
  std::string conninfo_;
  racelab::postgres::Connection conn_;
  bool lost_ = false;
  long lock_timeout_ms_ = -1;  // -1: wait as long as the server does
};

#ifdef RACELAB_LAB_MARIADB
// MariaDB (InnoDB). TxMode::read and TxMode::write are a plain BEGIN at REPEATABLE READ, InnoDB's
// default: its locking reads (FOR UPDATE, LOCK IN SHARE MODE) and UPDATEs read the newest committed
// row, and the snapshot of its plain reads is taken at a transaction's first plain read (not at
// BEGIN), so a read after a row lock sees what the lock's previous holder committed. Serializable
// is SERIALIZABLE, where InnoDB turns every plain read into LOCK IN SHARE MODE: conflicts surface
// as deadlocks (1213), retried like PostgreSQL's 40001.
class MariaDb final : public ServerDb<MariaDb> {
 public:
  explicit MariaDb(const std::string& url) : url_(url), conn_(racelab::mariadb::Connection::open(url)) {}
  Backend backend() const override { return Backend::mariadb; }
  void script(std::string_view sql) override {
    guard([&] { conn_.run_script(sql); });
  }
  void begin(TxMode mode) override {
    guard([&] {
      // SET TRANSACTION (no SESSION) applies to the next transaction only.
      if (mode == TxMode::serializable) conn_.exec("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE");
      conn_.exec("BEGIN");
    });
  }
  void commit() override {
    guard([&] { conn_.exec("COMMIT"); });
  }
  void rollback() noexcept override {
    // As PostgresDb::rollback: nothing may be thrown into a task while it unwinds through here.
    racelab::NoThrowScope in_rollback;
    if (lost_) return;  // the server rolled back when the connection went
    try {
      conn_.exec("ROLLBACK");
    } catch (...) {
    }
  }
  // innodb_lock_wait_timeout is in whole seconds (rounded up); 0 (MariaDB 10.3+) fails a lock wait
  // at once with 1205, as NOWAIT does. Applied before the next statement, not here: NoWait calls
  // this from its destructor, which must not throw.
  void set_lock_timeout(std::chrono::milliseconds timeout) override {
    lock_timeout_s_ = (timeout.count() + 999) / 1000;
  }

 private:
  friend class ServerDb<MariaDb>;
  racelab::mariadb::Result exec(std::string_view sql, std::initializer_list<DbParam> params) {
    // exec_list quotes every value, and MariaDB would take a quoted number as a string: `LIMIT '20'`
    // is an error, `balance - '800'` a DOUBLE. So integers go into the text as literals (nothing to
    // escape in a number) and only strings stay `?` (the lab's SQL has no `?` inside literals).
    std::string text;
    std::vector<std::optional<std::string>> values;
    auto next = params.begin();
    for (char c : sql) {
      if (c != '?' || next == params.end()) {
        text += c;
        continue;
      }
      if (const auto* n = std::get_if<std::int64_t>(&*next)) {
        text += std::to_string(*n);
      } else {
        text += '?';
        values.emplace_back(std::get<std::string>(*next));
      }
      ++next;
    }
    return conn_.exec_list(text, values);
  }
  template <class Fn>
  auto guard(Fn fn) -> decltype(fn()) {
    try {
      if (lost_) {  // a lost connection is replaced on next use, as a pool replaces it
        conn_ = racelab::mariadb::Connection::open(url_);
        lost_ = false;
        applied_lock_timeout_s_ = -1;
      }
      if (lock_timeout_s_ != applied_lock_timeout_s_) {
        conn_.exec("SET SESSION innodb_lock_wait_timeout = " + std::to_string(lock_timeout_s_));
        applied_lock_timeout_s_ = lock_timeout_s_;
      }
      return fn();
    } catch (const racelab::mariadb::ConnectionLost& e) {
      lost_ = true;
      throw DbLost(e.what());
    } catch (const racelab::mariadb::QueryCanceled& e) {
      throw DbTimeout(e.what());
    } catch (const racelab::mariadb::SerializationFailure& e) {
      throw DbConflict(e.what());
    } catch (const racelab::mariadb::DeadlockDetected& e) {
      throw DbConflict(e.what());
    } catch (const racelab::mariadb::LockNotAvailable& e) {
      throw DbBusy(e.what());
    } catch (const racelab::mariadb::UniqueViolation& e) {
      throw DbConstraint(e.what());
    } catch (const racelab::mariadb::CheckViolation& e) {
      throw DbConstraint(e.what());
    }
  }
  std::string url_;
  racelab::mariadb::Connection conn_;
  bool lost_ = false;
  long lock_timeout_s_ = 5;  // the lab's default wait (MariaDB's own is 50 s)
  long applied_lock_timeout_s_ = -1;
};
#endif

}  // namespace

std::string_view to_string(Backend backend) {
  switch (backend) {
    case Backend::sqlite: return "sqlite";
    case Backend::postgres: return "postgres";
    case Backend::mariadb: return "mariadb";
  }
  return "?";
}

bool has_mariadb() {
#ifdef RACELAB_LAB_MARIADB
  return true;
#else
  return false;
#endif
}

std::unique_ptr<Db> open_db(const std::string& url) {
  if (url.rfind("sqlite:memdb:", 0) == 0)
    return std::make_unique<SqliteDb>("file:/" + url.substr(13) + "?vfs=memdb", true);
  if (url.rfind("sqlite:", 0) == 0) return std::make_unique<SqliteDb>(url.substr(7), false);
  if (url.rfind("mariadb://", 0) == 0) {
#ifdef RACELAB_LAB_MARIADB
    return std::make_unique<MariaDb>(url);
#else
    throw std::invalid_argument("'" + url +
                                "': this racelab was built without MariaDB (MariaDB Connector/C, "
                                "libmariadb-dev, was not found); use sqlite:PATH or PostgreSQL");
#endif
  }
  if (url.rfind("postgresql://", 0) == 0 || url.rfind("postgres://", 0) == 0 ||
      url.find('=') != std::string::npos)
    return std::make_unique<PostgresDb>(url);
  throw std::invalid_argument(
      "unknown database '" + url +
      "': use sqlite:PATH, sqlite:memdb:NAME, a PostgreSQL conninfo or postgresql://…, or "
      "mariadb://user@host:port/database");
}

void backoff(int attempt) {
  const auto ceiling = std::chrono::microseconds(1000 << std::min(attempt - 1, 5));
  if (racelab::this_thread::simulated()) {  // virtual time, and no randomness the seed does not own
    racelab::this_thread::sleep_for(ceiling);
    return;
  }
  // Real threads: "full jitter" (a random wait up to the ceiling), so the transactions that just
  // collided do not all come back at the same moment and collide again.
  thread_local std::minstd_rand rng{std::random_device{}()};
  std::uniform_int_distribution<std::int64_t> wait(0, ceiling.count());
  std::this_thread::sleep_for(std::chrono::microseconds(wait(rng)));
}

}  // namespace lab
