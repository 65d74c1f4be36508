// The SQLite RAII layer. See racelab/db/sqlite.hpp.
#include "racelab/db/sqlite.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "racelab/db/statement.hpp"
#include "racelab/sim/sync.hpp"
#include "racelab/sim/wait.hpp"

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
thread_local racelab::WaitQueue t_lock_waiters;

// Real threads of this process waiting for a SQLite lock. Waiters queue for a turn; the thread whose
// turn it is waits until a connection lets a lock go (ends a transaction, or finishes a write outside
// one: that bumps the generation and wakes it) and retries at once, so a lock held in this process
// is retried as soon as it is free, by one thread rather than a herd. The back-off's sleep is only
// the fallback for locks held by other processes. Each thread notes the generation when its
// statement starts, so a release between its failed attempt and its wait is not missed. A turn
// lasts one sqlite3_step (or prepare, or exec) of the thread that holds it.
struct LockRelease {
  std::mutex mu;
  std::condition_variable cv;
  std::atomic<std::uint64_t> generation{0};
  std::atomic<int> waiters{0};
  // One waiting thread at a time retries SQLite; the others queue for the turn, so a release wakes
  // one thread instead of a herd that mostly fails again. (A flag and a condition variable rather
  // than a timed_mutex: ThreadSanitizer does not see timed_mutex's timed lock.)
  bool turn_taken = false;  // guarded by mu
  std::condition_variable turn_free;
};

LockRelease& lock_release() {
  static LockRelease release;
  return release;
}

thread_local std::uint64_t t_generation_seen = 0;
thread_local bool t_has_turn = false;

// After the statement that waited: the next queued waiter may take its turn.
void end_turn() {
  if (!t_has_turn) return;
  t_has_turn = false;
  auto& r = lock_release();
  {
    std::lock_guard lock(r.mu);
    r.turn_taken = false;
  }
  r.turn_free.notify_one();
}

void note_generation() { t_generation_seen = lock_release().generation.load(std::memory_order_acquire); }

// After a statement: `held` says whether it may have held a lock others wait for (it ran inside a
// transaction, or wrote).
void lock_may_be_free(sqlite3* db, bool held) {
  if (sqlite3_get_autocommit(db) == 0) return;
  if (racelab::this_thread::simulated()) {
    t_lock_waiters.notify_all();
    return;
  }
  if (!held) return;
  auto& r = lock_release();
  r.generation.fetch_add(1, std::memory_order_acq_rel);
  if (r.waiters.load(std::memory_order_acquire) == 0) return;
  {
    std::lock_guard lock(r.mu);  // a waiter between its check and its wait must not miss this
  }
  r.cv.notify_all();  // the waiter whose turn it is (and any that gave up queueing)
}

// True when `sql` is one statement (a trailing semicolon and blanks allowed).
bool single_statement(std::string_view sql) {
  auto semi = sql.find(';');
  return semi == std::string_view::npos ||
         std::all_of(sql.begin() + static_cast<std::ptrdiff_t>(semi) + 1, sql.end(),
                     [](unsigned char c) { return std::isspace(c) != 0; });
}

constexpr std::size_t kCacheCapacity = 64;

}  // namespace

namespace detail {
struct CachedStatement {
  sqlite3_stmt* stmt;
  Point point;
  FaultSet faults;
  bool in_use = false;
  bool orphaned = false;  // its connection closed while a Statement still held it: that one frees it
};
}  // namespace detail

struct Connection::Cache {
  std::unordered_map<std::string, std::unique_ptr<detail::CachedStatement>> by_sql;
};

struct Connection::BusyState {
  std::chrono::milliseconds timeout;
  std::chrono::steady_clock::time_point waiting_since{};
  // Called by SQLite with the number of times it has already waited for this lock.
  static int handler(void* self, int count) {
    auto* state = static_cast<BusyState*>(self);
    if (state->timeout.count() <= 0) return 0;
    if (racelab::this_thread::simulated()) {
      // Wait (in simulated time, without a timeout) until some connection may have released it.
      // Nothing may unwind through SQLite's C frames: when the run is torn down the wait returns
      // `abandoned`, the handler gives up (SQLITE_BUSY), and the C++ caller throws.
      racelab::NoThrowScope inside_sqlite;
      return t_lock_waiters.wait("sql.busy", "a SQLite lock held by another connection") ==
                     racelab::WaitResult::woken
                 ? 1
                 : 0;
    }
    // Real threads: wait until a connection of this process ends its transaction, or a back-off
    // of 0.1, 0.2, 0.4 … 20 ms passes (a lock held by another process), until the timeout is spent.
    using namespace std::chrono;
    const auto now = steady_clock::now();
    if (count == 0) state->waiting_since = now;
    if (now - state->waiting_since >= state->timeout) return 0;
    const auto backoff =
        microseconds(std::min<std::int64_t>(20'000, std::int64_t{100} << std::min(count, 8)));
    auto& r = lock_release();
    if (!t_has_turn) {
      // Queue behind the thread whose turn it is. Not getting the turn within the back-off (its
      // lock may be another database's, or another process's) just means retrying unqueued.
      {
        std::unique_lock lock(r.mu);
        if (r.turn_free.wait_for(lock, backoff, [&] { return !r.turn_taken; }))
          r.turn_taken = t_has_turn = true;
      }
      note_generation();
      return 1;  // the turn came after releases we did not see: retry at once
    }
    r.waiters.fetch_add(1, std::memory_order_acq_rel);
    {
      std::unique_lock lock(r.mu);
      const auto seen = t_generation_seen;
      r.cv.wait_for(lock, backoff, [&] { return r.generation.load(std::memory_order_acquire) != seen; });
    }
    r.waiters.fetch_sub(1, std::memory_order_acq_rel);
    note_generation();  // SQLite retries right after this returns
    return 1;
  }
};

Statement::~Statement() {
  if (stmt_ == nullptr) return;
  if (cached_ != nullptr && !cached_->orphaned) {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
    cached_->in_use = false;
  } else {
    sqlite3_finalize(stmt_);  // sqlite3_close_v2 finishes closing its connection after the last one
    delete cached_;
  }
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

void Statement::inject(Fault fault) {
  const std::string where =
      " (racelab fault " + std::string(to_string(fault)) + " at " + std::string(point_.name()) + ")";
  switch (fault) {
    case Fault::crash: break;  // thrown by the point itself
    case Fault::lost_before:
    case Fault::lost_after_commit:
      throw Error(SQLITE_IOERR, "sqlite: " + std::string(sqlite3_sql(stmt_)) + ": disk I/O error" + where);
    case Fault::timeout:
      throw Error(SQLITE_INTERRUPT, "sqlite: " + std::string(sqlite3_sql(stmt_)) + ": interrupted" + where);
    case Fault::busy:
    case Fault::deadlock:
      throw Busy(SQLITE_BUSY, "sqlite: " + std::string(sqlite3_sql(stmt_)) + ": database is locked" + where);
    case Fault::serialization:
      throw Busy(SQLITE_BUSY_SNAPSHOT,
                 "sqlite: " + std::string(sqlite3_sql(stmt_)) + ": database is locked" + where);
  }
  throw Error(SQLITE_ERROR, "sqlite: unknown fault" + where);
}

bool Statement::step() {
  std::optional<Fault> after;  // lost_after_commit: raised once the statement has run
  if (!started_) {
    started_ = true;
    // SQLite meets a deadlock only inside a transaction (it refuses the lock at once: SQLITE_BUSY).
    const FaultSet offered = sqlite3_get_autocommit(db_) != 0 ? faults_.without(Fault::deadlock) : faults_;
    if (auto fault = point_.hit_or_fault(offered)) {
      if (*fault != Fault::lost_after_commit) inject(*fault);
      after = fault;
    }
  }
  // Whether this statement may hold a lock others wait for: it runs in a transaction, or it writes.
  const bool held = sqlite3_get_autocommit(db_) == 0 || sqlite3_stmt_readonly(stmt_) == 0;
  note_generation();
  int rc = sqlite3_step(stmt_);
  end_turn();
  if (rc == SQLITE_ROW) {
    if (after) inject(*after);
    return true;
  }
  if (rc == SQLITE_DONE) {
    lock_may_be_free(db_, held);
    if (after) inject(*after);
    return false;
  }
  std::string sql = sqlite3_sql(stmt_);
  sqlite3_reset(stmt_);
  lock_may_be_free(db_, held);
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

std::string Statement::column_name(int column) const {
  const char* name = sqlite3_column_name(stmt_, column);
  return name != nullptr ? name : "";
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
  Connection conn(db, options.busy_timeout);
  if (options.wal) conn.exec("PRAGMA journal_mode=WAL");
  return conn;
}

Connection::Connection(sqlite3* db, std::chrono::milliseconds busy_timeout)
    : db_(db),
      busy_(std::make_unique<BusyState>(BusyState{busy_timeout})),
      cache_(std::make_unique<Cache>()) {
  rebind_busy_handler();
}

Connection::Connection(Connection&& other) noexcept
    : db_(std::exchange(other.db_, nullptr)), busy_(std::move(other.busy_)), cache_(std::move(other.cache_)) {
  rebind_busy_handler();
}

void Connection::rebind_busy_handler() {
  if (db_ != nullptr && busy_) sqlite3_busy_handler(db_, &BusyState::handler, busy_.get());
}

Connection& Connection::operator=(Connection&& other) noexcept {
  if (this != &other) {
    close();
    db_ = std::exchange(other.db_, nullptr);
    busy_ = std::move(other.busy_);
    cache_ = std::move(other.cache_);
    rebind_busy_handler();
  }
  return *this;
}

Connection::~Connection() { close(); }

void Connection::close() noexcept {
  if (db_ == nullptr) return;
  if (cache_) {
    for (auto& [sql, entry] : cache_->by_sql) {
      if (entry->in_use) {
        entry->orphaned = true;  // the Statement holding it outlives us and finalizes it
        static_cast<void>(entry.release());
      } else {
        sqlite3_finalize(entry->stmt);
      }
    }
    cache_->by_sql.clear();
  }
  sqlite3_close_v2(db_);  // with statements still alive, the close completes when they are finalized
  db_ = nullptr;
  if (racelab::this_thread::simulated()) t_lock_waiters.notify_all();
}

void Connection::exec(std::string_view sql) {
  if (single_statement(sql)) {
    auto stmt = prepare(sql);
    while (stmt.step()) {
    }
    return;
  }
  std::string text(sql);
  Point(db::statement_point_name(sql)).hit();
  char* error = nullptr;
  note_generation();
  int rc = sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &error);
  end_turn();
  lock_may_be_free(db_, true);
  if (rc != SQLITE_OK) {
    std::string message = error != nullptr ? error : sqlite3_errstr(rc);
    sqlite3_free(error);
    raise(nullptr, rc, text + ": " + message);
  }
}

Statement Connection::prepare(std::string_view sql, std::string_view point) {
  if (point.empty()) {
    auto it = cache_->by_sql.find(std::string(sql));
    if (it != cache_->by_sql.end() && !it->second->in_use) {
      it->second->in_use = true;
      return Statement(db_, it->second->stmt, it->second->point, it->second->faults, it->second.get());
    }
    if (it == cache_->by_sql.end() && cache_->by_sql.size() < kCacheCapacity) {
      sqlite3_stmt* stmt = nullptr;
      const int rc = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()),
                                        SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
      end_turn();  // reading the schema may have waited for a lock
      check(db_, rc, "prepare '" + std::string(sql) + "'");
      auto& entry = cache_->by_sql[std::string(sql)];
      entry.reset(new detail::CachedStatement{stmt, Point(db::statement_point_name(sql)),
                                              db::statement_faults(sql), true});
      return Statement(db_, stmt, entry->point, entry->faults, entry.get());
    }
  }
  sqlite3_stmt* stmt = nullptr;
  const int rc = sqlite3_prepare_v2(db_, sql.data(), static_cast<int>(sql.size()), &stmt, nullptr);
  end_turn();
  check(db_, rc, "prepare '" + std::string(sql) + "'");
  return Statement(db_, stmt, Point(point.empty() ? db::statement_point_name(sql) : std::string(point)),
                   db::statement_faults(sql));
}

std::int64_t Connection::changes() const { return sqlite3_changes64(db_); }

void Connection::set_busy_timeout(std::chrono::milliseconds timeout) { busy_->timeout = timeout; }

bool Connection::in_transaction() const { return sqlite3_get_autocommit(db_) == 0; }

Transaction::Transaction(Connection& db, Mode mode) : db_(db) {
  db_.exec(mode == Mode::immediate ? "BEGIN IMMEDIATE" : "BEGIN");
}

Transaction::~Transaction() {
  if (!done_) {
    // A destructor: no injected crash or unwind signal may be thrown into it, so the ROLLBACK
    // really runs (also while a crashed or abandoned task unwinds) and its locks go with it.
    NoThrowScope in_destructor;
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
