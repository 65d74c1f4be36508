// The SQLite RAII layer. See racelab/db/sqlite.hpp.
#include "racelab/db/sqlite.hpp"

#include <sqlite3.h>

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

}  // namespace

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
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  std::string sql = sqlite3_sql(stmt_);
  sqlite3_reset(stmt_);
  raise(db_, rc, sql);
}

void Statement::reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

std::int64_t Statement::column_int64(int column) const { return sqlite3_column_int64(stmt_, column); }

std::string Statement::column_text(int column) const {
  const auto* text = sqlite3_column_text(stmt_, column);
  return text == nullptr ? std::string() : std::string(reinterpret_cast<const char*>(text));
}

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
  Connection conn(db);
  sqlite3_busy_timeout(db, static_cast<int>(options.busy_timeout.count()));
  if (options.wal) conn.exec("PRAGMA journal_mode=WAL");
  return conn;
}

Connection& Connection::operator=(Connection&& other) noexcept {
  if (this != &other) {
    if (db_ != nullptr) sqlite3_close(db_);
    db_ = std::exchange(other.db_, nullptr);
  }
  return *this;
}

Connection::~Connection() {
  if (db_ != nullptr) sqlite3_close(db_);
}

void Connection::exec(std::string_view sql) {
  std::string text(sql);
  char* error = nullptr;
  int rc = sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &error);
  if (rc != SQLITE_OK) {
    std::string message = error != nullptr ? error : sqlite3_errstr(rc);
    sqlite3_free(error);
    raise(nullptr, rc, text + ": " + message);
  }
}

Statement Connection::prepare(std::string_view sql) {
  sqlite3_stmt* stmt = nullptr;
  check(db_, sqlite3_prepare_v2(db_, sql.data(), static_cast<int>(sql.size()), &stmt, nullptr),
        "prepare '" + std::string(sql) + "'");
  return Statement(db_, stmt);
}

std::int64_t Connection::changes() const { return sqlite3_changes64(db_); }

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
