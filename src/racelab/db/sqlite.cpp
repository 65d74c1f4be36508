// The SQLite RAII layer. See racelab/db/sqlite.hpp.
#include "racelab/db/sqlite.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <cctype>
#include <thread>

#include "racelab/db/statement.hpp"
#include "racelab/sim/sync.hpp"

namespace racelab::sqlite {
namespace {

[[noreturn]] void raise(sqlite3* db, int rc, std::string_view context) {
  std::string message = "sqlite: " + std::string(context);
  if (db != nullptr) message += std::string(": ") + sqlite3_errmsg(db);
  switch (rc & 0xff) {
    case SQLITE_BUSY: throw Busy(rc, message);
    case SQLITE_CONSTRAINT: throw ConstraintViolation(rc, message);
    default: throw Error(rc, message);
  }
}

void check(sqlite3* db, int rc, std::string_view context) {
  if (rc != SQLITE_OK) raise(db, rc, context);
}

// Tasks of the simulation on this thread that wait for a SQLite lock. Every statement that ends
// outside a transaction (so its connection holds no lock any more) wakes them to try again.
thread_local racelab::detail::WaitList t_lock_waiters;

void lock_may_be_free(sqlite3* db) {
  if (racelab::detail::in_simulation() && sqlite3_get_autocommit(db) != 0) t_lock_waiters.wake_all();
}

}  // namespace

struct Connection::BusyState {
  std::chrono::milliseconds timeout;
  // Called by SQLite with the number of times it has already waited for this lock.
  static int handler(void* self, int count) {
    auto* state = static_cast<BusyState*>(self);
    if (state->timeout.count() <= 0) return 0;
    if (racelab::detail::in_simulation()) {
      // Wait (in simulated time, without a timeout) until some connection may have released it.
      t_lock_waiters.wait("sql.busy", "a SQLite lock held by another connection");
      return 1;
    }
    // Real threads: back off 1, 2, 4 … 20 ms until the timeout is spent.
    using namespace std::chrono;
    auto waited = milliseconds(0);
    for (int i = 0; i < count; ++i) waited += milliseconds(std::min(20, 1 << std::min(i, 5)));
    if (waited >= state->timeout) return 0;
    std::this_thread::sleep_for(milliseconds(std::min(20, 1 << std::min(count, 5))));
    return 1;
  }
};

Statement::~Statement() {
  if (stmt_ != nullptr) sqlite3_finalize(stmt_);
}

Statement& Statement::bind(int index, std::int64_t value) {
  check(db_, sqlite3_bind_int64(stmt_, index, value), "bind");
  return *this;
}

Statement& Statement::bind(int index, std::string_view value) {
  check(db_, sqlite3_bind_text(stmt_, index, value.data(), static_cast<int>(value.size()), SQLITE_TRANSIENT),
        "bind");
  return *this;
}

Statement& Statement::bind(int index, std::nullptr_t) {
  check(db_, sqlite3_bind_null(stmt_, index), "bind");
  return *this;
}

bool Statement::step() {
  if (!started_) {
    started_ = true;
    point_.hit();
  }
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) {
    lock_may_be_free(db_);
    return false;
  }
  std::string sql = sqlite3_sql(stmt_);
  sqlite3_reset(stmt_);
  lock_may_be_free(db_);
  raise(db_, rc, sql);
}

void Statement::reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
  started_ = false;
}

std::int64_t Statement::column_int64(int column) const { return sqlite3_column_int64(stmt_, column); }

std::string Statement::column_text(int column) const {
  const auto* text = sqlite3_column_text(stmt_, column);
  return text == nullptr ? std::string() : std::string(reinterpret_cast<const char*>(text));
}

int Statement::column_count() const { return sqlite3_column_count(stmt_); }

bool Statement::column_is_null(int column) const { return sqlite3_column_type(stmt_, column) == SQLITE_NULL; }

Connection Connection::open(const std::string& path, Options options) {
  sqlite3* db = nullptr;
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
  if (options.uri) flags |= SQLITE_OPEN_URI;
  int rc = sqlite3_open_v2(path.c_str(), &db, flags, nullptr);
  if (rc != SQLITE_OK) {
    std::string message = "sqlite: open '" + path + "': " + (db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
    sqlite3_close(db);
    throw Error(rc, message);
  }
  sqlite3_extended_result_codes(db, 1);
  Connection conn(db, options.busy_timeout);
  if (options.wal) conn.exec("PRAGMA journal_mode=WAL");
  return conn;
}

Connection::Connection(sqlite3* db, std::chrono::milliseconds busy_timeout)
    : db_(db), busy_(std::make_unique<BusyState>(BusyState{busy_timeout})) {
  rebind_busy_handler();
}

Connection::Connection(Connection&& other) noexcept
    : db_(std::exchange(other.db_, nullptr)), busy_(std::move(other.busy_)) {
  rebind_busy_handler();
}

void Connection::rebind_busy_handler() {
  if (db_ != nullptr && busy_) sqlite3_busy_handler(db_, &BusyState::handler, busy_.get());
}

Connection& Connection::operator=(Connection&& other) noexcept {
  if (this != &other) {
    if (db_ != nullptr) sqlite3_close(db_);
    db_ = std::exchange(other.db_, nullptr);
    busy_ = std::move(other.busy_);
    rebind_busy_handler();
  }
  return *this;
}

Connection::~Connection() {
  if (db_ != nullptr) {
    sqlite3_close(db_);
    if (racelab::detail::in_simulation()) t_lock_waiters.wake_all();
  }
}

void Connection::exec(std::string_view sql) {
  std::string text(sql);
  Point(db::statement_point_name(sql)).hit();
  char* error = nullptr;
  int rc = sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &error);
  lock_may_be_free(db_);
  if (rc != SQLITE_OK) {
    std::string message = error != nullptr ? error : sqlite3_errstr(rc);
    sqlite3_free(error);
    raise(nullptr, rc, text + ": " + message);
  }
}

Statement Connection::prepare(std::string_view sql, std::string_view point) {
  sqlite3_stmt* stmt = nullptr;
  check(db_, sqlite3_prepare_v2(db_, sql.data(), static_cast<int>(sql.size()), &stmt, nullptr),
        "prepare '" + std::string(sql) + "'");
  return Statement(db_, stmt, Point(point.empty() ? db::statement_point_name(sql) : std::string(point)));
}

std::int64_t Connection::changes() const { return sqlite3_changes64(db_); }

void Connection::set_busy_timeout(std::chrono::milliseconds timeout) { busy_->timeout = timeout; }

bool Connection::in_transaction() const { return sqlite3_get_autocommit(db_) == 0; }

Transaction::Transaction(Connection& db, Mode mode) : db_(db) {
  db_.exec(mode == Mode::immediate ? "BEGIN IMMEDIATE" : "BEGIN");
}

Transaction::~Transaction() {
  if (!done_) {
    try {
      db_.exec("ROLLBACK");
    } catch (...) {  // nothing sensible to do in a destructor; the connection stays usable
    }
  }
}

void Transaction::commit() {
  db_.exec("COMMIT");
  done_ = true;
}

}  // namespace racelab::sqlite
