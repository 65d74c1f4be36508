// racelab/db/sqlite.hpp — a thin RAII layer over sqlite3 for tests and the lab.
//
// Connection, prepared Statement with typed binds, and Transaction (deferred or immediate), with
// SQLite errors turned into exceptions that keep the extended result code.
//
// Every statement is a racelab point, named after it (`sql.select.accounts`, `sql.update.accounts`,
// `sql.begin`, `sql.commit`; pass a name to prepare()/run() to choose your own), so hooks and the
// simulation can cut in before any statement. A lock wait (SQLITE_BUSY) cooperates: on real threads
// it backs off and retries until `busy_timeout`, then throws Busy; inside a simulation it blocks the
// task until another connection finishes a statement outside a transaction, so the lock holder can
// commit and real SQLite locking takes part in the search deterministically.
//
// Each statement's point offers faults (racelab/fault.hpp, docs/faults.md), surfaced as SQLite's own
// errors: `lost_before` and `lost_after_commit` as SQLITE_IOERR (an embedded database has no
// connection to lose: this is the caller losing the answer, before the statement ran or after its
// COMMIT took effect), `timeout` as SQLITE_INTERRUPT, `busy` and `deadlock` as Busy (SQLITE_BUSY:
// SQLite answers a deadlock by refusing the lock at once), `serialization` as Busy with
// SQLITE_BUSY_SNAPSHOT (a WAL snapshot too old to write from).
//
//   auto db = racelab::sqlite::Connection::open("bank.db", {.wal = true});
//   db.exec("CREATE TABLE IF NOT EXISTS counter(id INTEGER PRIMARY KEY, n INTEGER NOT NULL)");
//   racelab::sqlite::Transaction tx(db, racelab::sqlite::Transaction::Mode::immediate);
//   auto n = db.query_int64("SELECT n FROM counter WHERE id = ?", 1);
//   tx.commit();
//
// A Connection belongs to one thread at a time (SQLite's multi-thread mode); open one per thread.
// It keeps the statements it prepared (up to 64) and reuses them (reset, not re-prepared) when the
// same SQL comes again and the earlier one is finished; a Statement may outlive its Connection. On
// real threads, connections of this process that wait for a lock queue for a turn: the thread whose
// turn it is retries as soon as a connection of this process ends its transaction, instead of
// sleeping out a back-off; locks held by other processes are still found by the back-off.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

#include "racelab/point.hpp"

struct sqlite3;
struct sqlite3_stmt;

namespace racelab::sqlite {

class Error : public std::runtime_error {
 public:
  Error(int code, const std::string& message) : std::runtime_error(message), code_(code) {}
  int code() const { return code_; }  // SQLite's extended result code

 private:
  int code_;
};

// The database stayed locked for longer than the connection's busy timeout.
class Busy : public Error {
 public:
  using Error::Error;
};

// A CHECK, UNIQUE, NOT NULL or foreign-key constraint refused the statement.
class ConstraintViolation : public Error {
 public:
  using Error::Error;
};

namespace detail {
struct CachedStatement;
}

class Statement {
 public:
  Statement(Statement&& other) noexcept
      : db_(other.db_),
        stmt_(std::exchange(other.stmt_, nullptr)),
        point_(other.point_),
        faults_(other.faults_),
        cached_(std::exchange(other.cached_, nullptr)),
        started_(other.started_) {}
  Statement& operator=(Statement&&) = delete;
  Statement(const Statement&) = delete;
  ~Statement();

  // Binds are 1-based, as in SQLite.
  Statement& bind(int index, std::int64_t value);
  Statement& bind(int index, int value) { return bind(index, static_cast<std::int64_t>(value)); }
  Statement& bind(int index, std::string_view value);
  Statement& bind(int index, const char* value) { return bind(index, std::string_view(value)); }
  Statement& bind(int index, std::nullptr_t);
  template <class... Args>
  Statement& bind_all(const Args&... args) {
    int index = 0;
    (bind(++index, args), ...);
    return *this;
  }

  // Advances; true while a row is available. Throws Error (Busy, ConstraintViolation) on failure.
  // The statement's point fires before the first step of each execution.
  bool step();
  void reset();
  std::int64_t column_int64(int column) const;  // 0-based, as in SQLite
  std::string column_text(int column) const;
  int column_count() const;
  std::string column_name(int column) const;  // as the query names it (AS …)
  bool column_is_null(int column) const;

 private:
  friend class Connection;
  Statement(sqlite3* db, sqlite3_stmt* stmt, Point point, FaultSet faults,
            detail::CachedStatement* cached = nullptr)
      : db_(db), stmt_(stmt), point_(point), faults_(faults), cached_(cached) {}
  [[noreturn]] void inject(Fault fault);
  sqlite3* db_;
  sqlite3_stmt* stmt_;
  Point point_;
  FaultSet faults_;                  // what the point offers (racelab/fault.hpp)
  detail::CachedStatement* cached_;  // the connection's cache entry this statement returns to
  bool started_ = false;
};

class Connection {
 public:
  struct Options {
    bool wal = false;  // journal_mode=WAL (file databases)
    bool uri = false;  // open `path` as a URI (e.g. file:/bank?vfs=memdb)
    std::chrono::milliseconds busy_timeout{5000};
  };

  static Connection open(const std::string& path, Options options);
  static Connection open(const std::string& path) { return open(path, Options{}); }
  Connection(Connection&& other) noexcept;
  Connection& operator=(Connection&& other) noexcept;
  Connection(const Connection&) = delete;
  ~Connection();

  // Runs one or more statements without results; a point named after the first fires first.
  void exec(std::string_view sql);
  // `point`: the statement's point name; empty derives it from the SQL (sql.<verb>.<table>).
  Statement prepare(std::string_view sql, std::string_view point = {});

  // Runs `sql` with `args` bound; returns the first column of the first row, if any.
  template <class... Args>
  std::optional<std::int64_t> query_int64(std::string_view sql, const Args&... args) {
    auto stmt = prepare(sql);
    stmt.bind_all(args...);
    if (!stmt.step() || stmt.column_is_null(0)) return std::nullopt;
    return stmt.column_int64(0);
  }
  // Runs a statement that returns no rows; returns the number of rows it changed.
  template <class... Args>
  std::int64_t run(std::string_view sql, const Args&... args) {
    auto stmt = prepare(sql);
    stmt.bind_all(args...);
    while (stmt.step()) {
    }
    return changes();
  }

  std::int64_t changes() const;
  bool in_transaction() const;
  // How long a statement waits for a lock before Busy; zero fails at once, even in a simulation.
  void set_busy_timeout(std::chrono::milliseconds timeout);
  sqlite3* handle() const { return db_; }

  struct BusyState;  // the busy handler's state, stable across moves
  struct Cache;      // prepared statements by SQL text, stable across moves

 private:
  explicit Connection(sqlite3* db, std::chrono::milliseconds busy_timeout);
  void rebind_busy_handler();
  void close() noexcept;
  sqlite3* db_;
  std::unique_ptr<BusyState> busy_;
  std::unique_ptr<Cache> cache_;
};

// Rolls back unless committed. `immediate` takes the write lock at BEGIN (BEGIN IMMEDIATE).
class Transaction {
 public:
  enum class Mode { deferred, immediate };
  explicit Transaction(Connection& db, Mode mode = Mode::deferred);
  ~Transaction();
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  void commit();

 private:
  Connection& db_;
  bool done_ = false;
};

}  // namespace racelab::sqlite
