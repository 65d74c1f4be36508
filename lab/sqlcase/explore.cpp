#include "sqlcase/explore.hpp"

#include <libpq-fe.h>
#include <poll.h>
#include <sqlite3.h>
#include <unistd.h>
#ifdef RACELAB_LAB_MARIADB
#include <mysql.h>
#include <racelab/db/mariadb.hpp>
#endif
#include <racelab/db/postgres.hpp>
#include <racelab/db/sqlite.hpp>
#include <racelab/db/statement.hpp>
#include <racelab/racelab.hpp>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <utility>

namespace lab::sqlcase {
namespace {

namespace fs = std::filesystem;

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

[[maybe_unused]] std::string upper(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

std::string first_word(std::string_view sql) {
  std::string w;
  for (char c : sql) {
    if (std::isalpha(static_cast<unsigned char>(c))) {
      w += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    } else if (!w.empty()) {
      break;
    }
  }
  return w;
}

bool changes_rows(std::string_view sql) {
  const auto w = first_word(sql);
  return w == "INSERT" || w == "UPDATE" || w == "DELETE" || w == "REPLACE" || w == "MERGE";
}

bool is_begin(std::string_view sql) {
  const auto w = first_word(sql);
  return w == "BEGIN" || w == "START";
}

bool is_end(std::string_view sql) {
  const auto w = first_word(sql);
  return w == "COMMIT" || w == "ROLLBACK" || w == "END";
}

// "(2)", "2 rows: (alice, t), (bob, t)", "no rows", "1 row changed", "ok"; at most 5 rows shown.
std::string describe(const std::string& sql, const Answer& a) {
  auto row_text = [](const std::vector<std::string>& row) {
    std::string s = "(";
    for (std::size_t i = 0; i < row.size(); ++i) s += (i ? ", " : "") + row[i];
    return s + ")";
  };
  if (a.columns.empty()) {
    if (!changes_rows(sql)) return "ok";
    return std::to_string(a.changed) + (a.changed == 1 ? " row changed" : " rows changed");
  }
  if (a.rows.empty()) return "no rows";
  if (a.rows.size() == 1) return row_text(a.rows.front());
  std::string s = std::to_string(a.rows.size()) + " rows: ";
  for (std::size_t i = 0; i < a.rows.size() && i < 5; ++i) s += (i ? ", " : "") + row_text(a.rows[i]);
  if (a.rows.size() > 5) s += ", ...";
  return s;
}

// What \gset kept: a value, or SQL NULL.
using Values = std::map<std::string, std::optional<std::string>>;

// A :name the session has no value for (no \gset set it): the case's mistake, not the database's.
class Unbound : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

bool plain_number(const std::string& v) {
  std::size_t i = v.starts_with('-') ? 1 : 0;
  const std::size_t digits = i;
  while (i < v.size() && std::isdigit(static_cast<unsigned char>(v[i]))) ++i;
  if (i == digits) return false;
  if (i < v.size() && v[i] == '.') {
    const std::size_t frac = ++i;
    while (i < v.size() && std::isdigit(static_cast<unsigned char>(v[i]))) ++i;
    if (i == frac) return false;
  }
  return i == v.size();
}

// `:name` outside quotes replaced by the session's value: a number as it is (a negative one in
// parentheses, so `5-:v` never makes a `--` comment), NULL as NULL, anything else as a quoted
// literal. `::` (PostgreSQL's cast) is left alone; a name with no value throws Unbound.
std::string substitute(const std::string& sql, const Values& values) {
  std::string out;
  char quote = 0;
  for (std::size_t i = 0; i < sql.size(); ++i) {
    const char c = sql[i];
    if (quote != 0) {
      if (c == quote) quote = 0;
      out += c;
      continue;
    }
    if (c == '\'' || c == '"') quote = c;
    const bool name_follows = c == ':' && i + 1 < sql.size() &&
                              (std::isalpha(static_cast<unsigned char>(sql[i + 1])) || sql[i + 1] == '_') &&
                              (i == 0 || sql[i - 1] != ':');
    if (!name_follows) {
      out += c;
      continue;
    }
    std::size_t end = i + 1;
    while (end < sql.size() && (std::isalnum(static_cast<unsigned char>(sql[end])) || sql[end] == '_')) ++end;
    const std::string name = sql.substr(i + 1, end - i - 1);
    const auto it = values.find(name);
    if (it == values.end()) {
      std::string known;
      for (const auto& [k, v] : values) known += (known.empty() ? "" : ", ") + (":" + k);
      throw Unbound(":" + name + " has no value: no \\gset before it returned a column named " + name +
                    (known.empty() ? std::string(" (none has run)") : " (it has " + known + ")"));
    }
    if (!it->second) {
      out += "NULL";
    } else if (plain_number(*it->second)) {
      out += it->second->starts_with('-') ? "(" + *it->second + ")" : *it->second;
    } else {
      out += '\'';
      for (char ch : *it->second) out += ch == '\'' ? std::string("''") : std::string(1, ch);
      out += '\'';
    }
    i = end - 1;
  }
  return out;
}

// A driver's result (racelab::postgres::Result, racelab::mariadb::Result: the same accessors) as
// an Answer.
template <class Result>
Answer answer_from(const Result& r) {
  Answer a;
  for (int c = 0; c < r.columns(); ++c) a.columns.push_back(r.column_name(c));
  for (int i = 0; i < r.rows(); ++i) {
    auto& row = a.rows.emplace_back();
    auto& nulls = a.nulls.emplace_back();
    for (int c = 0; c < r.columns(); ++c) {
      nulls.push_back(r.is_null(i, c));
      row.push_back(nulls.back() ? "NULL" : r.text(i, c));
    }
  }
  if (a.columns.empty()) a.changed = r.affected();
  return a;
}

// One session's connection, whichever the backend.
class Conn {
 public:
  virtual ~Conn() = default;
  virtual Answer run(const std::string& sql) = 0;  // throws what the driver throws
  // A query of the history recorder's: not a point, and never one that waits for a lock.
  virtual Answer raw(const std::string& sql) = 0;
  virtual void rollback() noexcept = 0;
  // Whether the last statement waited for a lock while another session ran (PostgreSQL; SQLite's
  // lock waits happen inside the library, and the timeline does not mark them).
  bool waited() const { return waited_; }
  virtual void ended() {}  // its session's task is done

 protected:
  bool waited_ = false;
};

class SqliteSession : public Conn {
 public:
  SqliteSession(const std::string& path, bool wal, bool immediate)
      : conn_(racelab::sqlite::Connection::open(path, {.wal = wal})), immediate_(immediate) {
    conn_.exec("PRAGMA synchronous = OFF");  // a scratch database: durability is not in question, locking is
  }
  Answer run(const std::string& sql) override {
    // `immediate` sessions take the write lock at BEGIN, as an application asking for it does.
    const std::string l = lower(sql);
    const bool plain_begin = l == "begin" || l == "begin transaction" || l == "begin deferred" ||
                             l == "begin deferred transaction";
    const std::string text = immediate_ && plain_begin ? std::string("BEGIN IMMEDIATE") : sql;
    auto stmt = conn_.prepare(text);
    Answer a;
    for (int c = 0; c < stmt.column_count(); ++c) a.columns.push_back(stmt.column_name(c));
    while (stmt.step()) {
      auto& row = a.rows.emplace_back();
      auto& nulls = a.nulls.emplace_back();
      for (int c = 0; c < stmt.column_count(); ++c) {
        nulls.push_back(stmt.column_is_null(c));
        row.push_back(nulls.back() ? "NULL" : stmt.column_text(c));
      }
    }
    a.changed = conn_.changes();
    return a;
  }
  void rollback() noexcept override {
    racelab::NoThrowScope in_rollback;
    try {
      if (conn_.in_transaction()) conn_.exec("ROLLBACK");
    } catch (...) {
    }
  }
  void exec_script(const std::string& sql) { conn_.exec(sql); }
  Answer raw(const std::string& sql) override {
    sqlite3* db = conn_.handle();
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr) != SQLITE_OK)
      throw racelab::sqlite::Error(sqlite3_errcode(db),
                                   "history: " + std::string(sqlite3_errmsg(db)) + " in " + sql);
    Answer a;
    for (int c = 0; c < sqlite3_column_count(stmt); ++c) a.columns.push_back(sqlite3_column_name(stmt, c));
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
      auto& row = a.rows.emplace_back();
      auto& nulls = a.nulls.emplace_back();
      for (int c = 0; c < sqlite3_column_count(stmt); ++c) {
        const auto* text = sqlite3_column_text(stmt, c);
        nulls.push_back(text == nullptr);
        row.push_back(text == nullptr ? "NULL" : reinterpret_cast<const char*>(text));
      }
    }
    sqlite3_finalize(stmt);
    if (rc != SQLITE_DONE)
      throw racelab::sqlite::Error(rc, "history: " + std::string(sqlite3_errmsg(db)) + " in " + sql);
    return a;
  }

 private:
  racelab::sqlite::Connection conn_;
  bool immediate_;
};

// PostgreSQL, deterministic. A statement runs to its reply, or until the server says it waits for
// a lock one of the case's other sessions holds; the session then parks (a racelab WaitQueue, not
// the socket) and the others run. After each reply every other session's statement in flight is
// let settle (answered, or blocked: a COMMIT may have released the lock it waited for) and the
// answered ones are woken. When a statement blocks and no other session can run, the server must
// resolve it (a deadlock victim, a lock timeout): the session waits in real time for that, then
// settles and wakes as above. So every scheduling decision sees each statement in flight either
// answered or blocked, and what the scheduler may choose follows from the schedule, not from the
// server's timing (a bare adapter leaves that to the server: docs/simulation.md).
class PgRun;

class PostgresSession : public Conn {
 public:
  PostgresSession(const std::string& conninfo, PgRun* run)
      : conn_(racelab::postgres::Connection::open(conninfo)), run_(run) {}
  PostgresSession(const PostgresSession&) = delete;
  PostgresSession& operator=(const PostgresSession&) = delete;
  Answer run(const std::string& sql) override;
  // An aborted transaction keeps its locks until ROLLBACK: it goes the same settled way.
  void rollback() noexcept override {
    racelab::NoThrowScope in_rollback;
    try {
      if (PQtransactionStatus(conn_.handle()) != PQTRANS_IDLE) static_cast<void>(run("ROLLBACK"));
    } catch (...) {
    }
  }
  void ended() override;
  // Ready for the next run: its transaction, if a torn-down task left one, rolled back.
  void reset() {
    done = false;
    waited_ = false;
    if (PQtransactionStatus(conn_.handle()) != PQTRANS_IDLE) conn_.run_script("ROLLBACK");
  }
  void script(const std::string& sql) { conn_.run_script(sql); }
  Answer raw(const std::string& sql) override {
    PGresult* r = PQexec(conn_.handle(), sql.c_str());
    const auto status = PQresultStatus(r);
    if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) {
      std::string message = PQresultErrorMessage(r);
      const char* state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
      PQclear(r);
      throw racelab::postgres::Error(state != nullptr ? state : "08006",
                                     "history: " + message + " in " + sql);
    }
    auto a = answer_of(r);
    PQclear(r);
    return a;
  }
  int pid() const { return PQbackendPID(conn_.handle()); }
  int socket() const { return PQsocket(conn_.handle()); }
  bool in_flight() const { return in_flight_; }
  bool parked() const { return parked_; }
  bool done = false;    // its task has ended
  bool victim = false;  // its statement was cancelled to break a deadlock
  // The whole reply is in (read into last_ once it began to arrive).
  bool replied();
  // Waits in real time until the statement in flight, if any, is answered or blocked on a lock.
  void settle();
  void wake() {  // no longer parked from now on: another session may count on it to run
    parked_ = false;
    queue_.notify_all();
  }

 private:
  static Answer answer_of(PGresult* r);
  // Until this session's statement is answered, letting the others run meanwhile; false when the
  // run is torn down first (the statement is then still in flight: Landed cancels it).
  bool await();

  racelab::postgres::Connection conn_;
  PgRun* run_;
  racelab::WaitQueue queue_;
  bool in_flight_ = false;
  bool complete_ = false;     // the reply to the statement in flight has been read to its end
  PGresult* last_ = nullptr;  // its last result
  bool parked_ = false;
};

// The sessions of one run and a connection that watches them (pg_isolation_test_session_is_blocked,
// which PostgreSQL's own isolation tester uses).
class PgRun {
 public:
  explicit PgRun(const std::string& conninfo) : monitor_(racelab::postgres::Connection::open(conninfo)) {}
  void add(PostgresSession* s) {
    sessions_.push_back(s);
    pids_ = "{";
    for (std::size_t i = 0; i < sessions_.size(); ++i)
      pids_ += (i ? "," : "") + std::to_string(sessions_[i]->pid());
    pids_ += "}";
  }
  // Asked with libpq directly, in real time: the question is not part of the run (no point).
  bool blocked(int pid) {
    const std::string p = std::to_string(pid);
    const char* values[] = {p.c_str(), pids_.c_str()};
    PGresult* r =
        PQexecParams(monitor_.handle(), "SELECT pg_isolation_test_session_is_blocked($1::int, $2::int[])", 2,
                     nullptr, values, nullptr, nullptr, 0);
    const bool yes =
        PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 && PQgetvalue(r, 0, 0)[0] == 't';
    PQclear(r);
    return yes;
  }
  // After `self` got its reply: every other statement in flight settles; the answered ones wake.
  void settle_and_wake(const PostgresSession* self) {
    for (auto* s : sessions_)
      if (s != self) s->settle();
    for (auto* s : sessions_)
      if (s != self && s->parked() && s->replied()) s->wake();
  }
  // Whether a session other than `self` waits on the server as the second waiter for a row: it
  // queues for the row's tuple lock, which the first waiter holds while it waits for the row's
  // writer. When that writer's transaction ends, the first waiter finds the row changed, lets the
  // tuple lock go and retries on the new version (read committed's re-check), and the two race
  // for the row inside the server, in an order the schedule does not decide.
  bool chained(const PostgresSession* self) {
    std::string pids;
    for (auto* s : sessions_)
      if (s != self && s->parked()) pids += (pids.empty() ? "{" : ",") + std::to_string(s->pid());
    if (pids.empty()) return false;
    pids += "}";
    const char* values[] = {pids.c_str()};
    PGresult* r = PQexecParams(monitor_.handle(),
                               "SELECT 1 FROM pg_locks WHERE pid = ANY($1::int[]) AND NOT granted AND "
                               "locktype = 'tuple' LIMIT 1",
                               1, nullptr, values, nullptr, nullptr, 0);
    const bool yes = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1;
    PQclear(r);
    return yes;
  }
  // Set when a statement that ends a transaction (or fails, aborting it) was answered while
  // chained() held: the run may replay differently. Read and cleared by Target::fresh.
  bool server_ordered = false;
  // `self` has ended. If every other session left waits on the server, none would look again (a
  // deadlock among them, left to the server, is found only by the one whose wait sees nobody else
  // able to run): wake the first, in case order, to do so.
  void ended(const PostgresSession* self) {
    if (others_can_run(self)) return;
    for (auto* s : sessions_)
      if (s != self && s->parked()) {
        s->wake();
        return;
      }
  }
  // Whether a session other than `self` may run: neither parked nor ended.
  bool others_can_run(const PostgresSession* self) const {
    for (auto* s : sessions_)
      if (s != self && !s->parked() && !s->done) return true;
    return false;
  }
  // Every session blocked on the server. If their waits make a cycle, racelab breaks it as the
  // server would, but by the case's order rather than by whose timer fires first (PostgreSQL checks
  // a wait once, deadlock_timeout after it began, so its victim depends on timing): the first
  // session of the case in the cycle has its statement cancelled, and reports 40P01.
  void break_deadlock() {
    std::map<int, PostgresSession*> by_pid;
    for (auto* s : sessions_)
      if (s->in_flight()) by_pid[s->pid()] = s;
    std::map<PostgresSession*, std::vector<PostgresSession*>> waits_for;
    for (auto* s : sessions_) {
      if (!s->in_flight()) continue;
      const std::string p = std::to_string(s->pid());
      const char* values[] = {p.c_str()};
      PGresult* r = PQexecParams(monitor_.handle(), "SELECT unnest(pg_blocking_pids($1::int))", 1, nullptr,
                                 values, nullptr, nullptr, 0);
      for (int i = 0; PQresultStatus(r) == PGRES_TUPLES_OK && i < PQntuples(r); ++i)
        if (auto it = by_pid.find(std::atoi(PQgetvalue(r, i, 0))); it != by_pid.end())
          waits_for[s].push_back(it->second);
      PQclear(r);
    }
    for (auto* start : sessions_) {  // in case order: the first session that is on a cycle
      std::vector<PostgresSession*> seen, frontier{start};
      bool cycle = false;
      while (!frontier.empty() && !cycle) {
        auto* s = frontier.back();
        frontier.pop_back();
        for (auto* next : waits_for[s]) {
          if (next == start) cycle = true;
          if (std::find(seen.begin(), seen.end(), next) == seen.end()) {
            seen.push_back(next);
            frontier.push_back(next);
          }
        }
      }
      if (!cycle) continue;
      start->victim = true;
      const std::string p = std::to_string(start->pid());
      const char* values[] = {p.c_str()};
      PQclear(PQexecParams(monitor_.handle(), "SELECT pg_cancel_backend($1::int)", 1, nullptr, values,
                           nullptr, nullptr, 0));
      return;
    }
  }
  // Wait (real time) until some reply comes (a cancelled deadlock victim, a lock timed out). False
  // if none came within `ms`.
  bool await_server(int ms) {
    std::vector<pollfd> fds;
    for (auto* s : sessions_)
      if (s->in_flight()) fds.push_back(pollfd{s->socket(), POLLIN, 0});
    return !fds.empty() && ::poll(fds.data(), fds.size(), ms) > 0;
  }

 private:
  racelab::postgres::Connection monitor_;
  std::vector<PostgresSession*> sessions_;
  std::string pids_;
};

// The server sends an error before its abort releases the transaction's locks, and ReadyForQuery
// after: a reply counts once it is read to its end (PQgetResult's NULL), so that whoever waited
// for those locks is no longer seen as blocked.
bool PostgresSession::replied() {
  if (!in_flight_ || complete_) return true;
  PGconn* c = conn_.handle();
  pollfd fd{socket(), POLLIN, 0};
  if (PQisBusy(c) != 0 && ::poll(&fd, 1, 0) <= 0) return false;
  // A reply has begun: the rest follows at once (statement_timeout bounds the server's side).
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  for (;;) {
    if (std::chrono::steady_clock::now() > deadline)
      throw racelab::postgres::Error("08006", "postgres: a reply began and did not end within 60 s");
    if (PQconsumeInput(c) == 0) {
      complete_ = true;  // the connection broke: PQgetResult says so
      return true;
    }
    while (PQisBusy(c) == 0) {
      PGresult* r = PQgetResult(c);
      if (r == nullptr) {
        complete_ = true;
        return true;
      }
      if (last_ != nullptr) PQclear(last_);
      last_ = r;
    }
    static_cast<void>(::poll(&fd, 1, 10));
  }
}

void PostgresSession::settle() {
  if (!in_flight_) return;
  // Bounded: statement_timeout (30 s) and lock_timeout (10 s) end anything the server keeps going.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!replied() && !run_->blocked(pid())) {
    if (std::chrono::steady_clock::now() > deadline)
      throw racelab::postgres::Error("57014",
                                     "postgres: a statement neither answered nor waited for a lock in 60 s");
    pollfd fd{socket(), POLLIN, 0};
    static_cast<void>(::poll(&fd, 1, 1));
  }
}

Answer PostgresSession::answer_of(PGresult* r) {
  Answer a;
  for (int c = 0; c < PQnfields(r); ++c) a.columns.push_back(PQfname(r, c));
  for (int i = 0; i < PQntuples(r); ++i) {
    auto& row = a.rows.emplace_back();
    auto& nulls = a.nulls.emplace_back();
    for (int c = 0; c < PQnfields(r); ++c) {
      nulls.push_back(PQgetisnull(r, i, c) != 0);
      row.push_back(nulls.back() ? "NULL" : PQgetvalue(r, i, c));
    }
  }
  const char* n = PQcmdTuples(r);
  if (a.columns.empty() && n != nullptr && *n != '\0') a.changed = std::strtoll(n, nullptr, 10);
  return a;
}

bool PostgresSession::await() {
  constexpr int kServerMs = 15'000;  // past lock_timeout (10 s): the server always answers by then
  for (;;) {
    settle();
    if (replied()) return true;
    if (!run_->blocked(pid())) continue;  // the rest of a reply is on its way
    waited_ = true;
    if (run_->others_can_run(this)) {
      parked_ = true;
      const auto r = queue_.wait("sql.wait", "a lock held by another session");
      parked_ = false;
      if (r == racelab::WaitResult::abandoned) return false;
      continue;
    }
    // Everyone waits on the server: a deadlock (broken here), or a lock timeout.
    run_->break_deadlock();
    if (!run_->await_server(kServerMs))
      throw racelab::postgres::Error("57014", "postgres: no session of the case got an answer within 15 s");
    run_->settle_and_wake(this);
  }
}

void PostgresSession::ended() {
  done = true;
  if (run_ != nullptr) run_->ended(this);
}

Answer PostgresSession::run(const std::string& sql) {
  if (run_ == nullptr || !racelab::this_thread::simulated()) return answer_from(conn_.exec_list(sql, {}));
  racelab::Point(racelab::db::statement_point_name(sql)).hit();
  bool contested = run_->chained(this);  // a release now would wake two waiters for one row
  PGconn* c = conn_.handle();
  if (PQsendQuery(c, sql.c_str()) == 0)
    throw racelab::postgres::Error("08006", std::string("postgres: send failed: ") + PQerrorMessage(c));
  in_flight_ = true;
  complete_ = false;
  waited_ = false;
  struct Landed {  // however the task leaves (torn down mid-wait too), nothing stays in flight
    PostgresSession& s;
    ~Landed() {
      if (!s.in_flight_) return;
      s.in_flight_ = false;
      if (s.last_ != nullptr) PQclear(std::exchange(s.last_, nullptr));
      if (s.complete_) return;
      PGconn* conn = s.conn_.handle();
      if (PQisBusy(conn) != 0) {
        if (PGcancel* cancel = PQgetCancel(conn)) {
          char error[256];
          static_cast<void>(PQcancel(cancel, error, sizeof error));
          PQfreeCancel(cancel);
        }
      }
      while (PGresult* r = PQgetResult(conn)) PQclear(r);
    }
  } landed{*this};
  if (!await()) return {};
  contested = contested || (waited_ && run_->chained(this));  // it waited; others queued meanwhile
  in_flight_ = false;
  PGresult* last = std::exchange(last_, nullptr);
  run_->settle_and_wake(this);  // what this statement released (a COMMIT, an abort) lets others on
  const auto status = last != nullptr ? PQresultStatus(last) : PGRES_FATAL_ERROR;
  if (contested && (is_end(sql) || status == PGRES_FATAL_ERROR)) run_->server_ordered = true;
  if (status == PGRES_FATAL_ERROR || status == PGRES_NONFATAL_ERROR) {
    std::string message = last != nullptr ? PQresultErrorMessage(last) : PQerrorMessage(c);
    while (!message.empty() && message.back() == '\n') message.pop_back();
    const char* state = last != nullptr ? PQresultErrorField(last, PG_DIAG_SQLSTATE) : nullptr;
    const std::string sqlstate = state != nullptr ? state : "08006";
    if (last != nullptr) PQclear(last);
    if (std::exchange(victim, false) && sqlstate == "57014")
      throw racelab::postgres::Error("40P01",
                                     "deadlock detected: this session's wait closed a cycle; racelab chose "
                                     "it, the case's first session in the cycle, as the victim (40P01)");
    throw racelab::postgres::Error(sqlstate, message + " (" + sqlstate + ")");
  }
  const auto result = answer_of(last);
  PQclear(last);
  return result;
}

#ifdef RACELAB_LAB_MARIADB
// MariaDB: the adapter settles by itself (a statement is awaited until answered or until the server
// confirms it waits for a row lock; then its task parks, and the parked ones are looked at again
// whenever a statement ends or parks: racelab::mariadb), and InnoDB breaks a deadlock the moment a
// wait closes a cycle, so no settle protocol is needed here.
class MariaDbSession : public Conn {
 public:
  explicit MariaDbSession(const std::string& url) : conn_(racelab::mariadb::Connection::open(url)) {}
  Answer run(const std::string& sql) override {
    const auto r = conn_.exec_list(sql, {});
    waited_ = conn_.waited_for_lock();
    return answer_from(r);
  }
  void rollback() noexcept override {
    racelab::NoThrowScope in_rollback;
    try {
      static_cast<void>(conn_.exec("ROLLBACK"));
    } catch (...) {
    }
  }
  void script(const std::string& sql) { conn_.run_script(sql); }
  Answer raw(const std::string& sql) override {
    MYSQL* m = conn_.handle();
    if (mysql_real_query(m, sql.data(), sql.size()) != 0)
      throw racelab::mariadb::Error(mysql_errno(m), mysql_sqlstate(m),
                                    "history: " + std::string(mysql_error(m)) + " in " + sql);
    Answer a;
    MYSQL_RES* r = mysql_store_result(m);
    if (r == nullptr) {
      a.changed = static_cast<std::int64_t>(mysql_affected_rows(m));
      return a;
    }
    const unsigned n = mysql_num_fields(r);
    const MYSQL_FIELD* fields = mysql_fetch_fields(r);
    for (unsigned c = 0; c < n; ++c) a.columns.emplace_back(fields[c].name);
    while (MYSQL_ROW row = mysql_fetch_row(r)) {
      const unsigned long* lengths = mysql_fetch_lengths(r);
      auto& out = a.rows.emplace_back();
      auto& nulls = a.nulls.emplace_back();
      for (unsigned c = 0; c < n; ++c) {
        nulls.push_back(row[c] == nullptr);
        out.push_back(row[c] == nullptr ? "NULL" : std::string(row[c], lengths[c]));
      }
    }
    mysql_free_result(r);
    return a;
  }
  // Ready for the next run: a transaction a torn-down task left open is rolled back.
  void reset() {
    waited_ = false;
    conn_.run_script("ROLLBACK; SET @racelab_w = NULL");
  }

 private:
  racelab::mariadb::Connection conn_;
};
#endif

// Where and how the runs take place: the backend, the level as applied, and a fresh database.
class Target {
 public:
  Target(const Options& options) {
    const auto& db = options.db;
    for (const auto& setting : options.settings) {
      const auto eq = setting.find('=');
      const std::string name = eq == std::string::npos ? setting : setting.substr(0, eq);
      if (eq == std::string::npos || name.empty() || eq + 1 == setting.size() ||
          name.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.") !=
              std::string::npos ||
          setting.find(';') != std::string::npos)
        throw RunError(
            "--set '" + setting +
            "': use NAME=VALUE, a setting's name (letters, digits, _ and .) and a value with no ';'");
      if (!sets_transaction_mode("SET " + name + " = " + setting.substr(eq + 1)).empty())
        throw RunError(
            "--set '" + setting +
            "': racelab sql sees transactions begin and end by the sessions' own BEGIN and COMMIT; a "
            "setting that changes when they end would leave some open");
      settings_.push_back(setting);
    }
    if (db == "sqlite" || db.rfind("sqlite:", 0) == 0) {
      backend_ = "sqlite";
      sqlite_level(options.level);  // before any directory is made: a bad level leaves nothing behind
      dir_ = db.size() > 7 ? db.substr(7) : std::string();
      if (dir_.empty()) {
        std::string tmpl = (fs::temp_directory_path() / "racelab-sql-XXXXXX").string();
        if (::mkdtemp(tmpl.data()) == nullptr) throw RunError("cannot make a scratch directory in /tmp");
        dir_ = tmpl;
        owned_ = true;
      } else {
        std::error_code ec;
        fs::create_directories(dir_, ec);
        if (!fs::is_directory(dir_))
          throw RunError("sqlite:" + dir_ +
                         " must name a directory for the scratch databases (each run makes a new one there)");
      }
    } else if (db.rfind("mariadb://", 0) == 0) {
#ifdef RACELAB_LAB_MARIADB
      backend_ = "mariadb";
      url_ = db;
      schema_ = options.schema;
      check_schema();
      mariadb_level(options.level);
#else
      throw RunError("'" + db + "': this racelab was built without MariaDB Connector/C (libmariadb-dev)");
#endif
    } else if (db.rfind("postgresql://", 0) == 0 || db.rfind("postgres://", 0) == 0 ||
               db.find('=') != std::string::npos) {
      backend_ = "postgresql";
      conninfo_ = db;
      schema_ = options.schema;
      check_schema();
      postgres_level(options.level);
    } else {
      throw RunError("--db '" + db +
                     "': use sqlite:DIR, a PostgreSQL conninfo (host=… dbname=…) or postgresql:// URL, or a "
                     "mariadb://user@host:port/database URL");
    }
  }
  ~Target() {
    std::error_code ec;
    if (owned_) fs::remove_all(dir_, ec);
  }
  Target(const Target&) = delete;
  Target& operator=(const Target&) = delete;

  const std::string& backend() const { return backend_; }
  const std::string& level() const { return level_; }
  const std::vector<std::string>& settings() const { return settings_; }

  // A fresh database with the setup applied, and `n` sessions on it; throws what the driver
  // throws. SQLite: a new file and new connections. PostgreSQL: the schema made again, and the
  // same connections as the last run (rolled back; a connection costs a server process).
  Conn& fresh(const std::vector<Statement>& setup, std::size_t n) {
    if (pg_run_ && std::exchange(pg_run_->server_ordered, false)) ++server_ordered_;
    if (backend_ == "sqlite") {
      sessions_.clear();
      setup_.reset();
      const auto path = database_path();
      std::error_code ec;
      for (const char* suffix : {"", "-wal", "-shm", "-journal"}) fs::remove(path + suffix, ec);
      auto s = std::make_unique<SqliteSession>(path, wal_, false);
      // The settings apply to the setup's connection too: it reads what --history and the check see.
      if (!settings_.empty()) s->exec_script(setting_sql("PRAGMA "));
      for (const auto& st : setup) s->exec_script(st.sql);
      setup_ = std::move(s);
      for (std::size_t i = 0; i < n; ++i) {
        auto session = std::make_unique<SqliteSession>(database_path(), wal_, immediate_);
        if (!settings_.empty()) session->exec_script(setting_sql("PRAGMA "));
        sessions_.push_back(std::move(session));
      }
      return *setup_;
    }
#ifdef RACELAB_LAB_MARIADB
    if (backend_ == "mariadb") return fresh_mariadb(setup, n);
#endif
    if (!pg_run_) {
      pg_run_ = std::make_unique<PgRun>(conninfo_);
      auto s = std::make_unique<PostgresSession>(conninfo_, nullptr);
      s->script("SET client_min_messages = error");
      if (!settings_.empty()) s->script(setting_sql("SET "));
      setup_ = std::move(s);
    }
    while (sessions_.size() < n) {
      auto s = std::make_unique<PostgresSession>(conninfo_, pg_run_.get());
      // The server's own deadlock check waits a minute (racelab breaks a deadlock of the case's
      // sessions itself, deterministically: PgRun::break_deadlock); lock_timeout ends any wait
      // on something outside the case, statement_timeout any statement that runs on and on.
      s->script("SET client_min_messages = error; SET search_path TO " + schema_ +
                "; SET deadlock_timeout = '60s'; SET lock_timeout = '10s'; SET statement_timeout = '30s'; "
                "SET SESSION CHARACTERISTICS AS "
                "TRANSACTION ISOLATION LEVEL " +
                level_);
      if (!settings_.empty()) s->script(setting_sql("SET "));
      pg_run_->add(s.get());
      sessions_.push_back(std::move(s));
    }
    for (auto& s : sessions_) static_cast<PostgresSession&>(*s).reset();
    auto& pg = static_cast<PostgresSession&>(*setup_);
    if (!schema_checked_) {
      refuse_foreign_schema(
          pg.raw("SELECT coalesce(obj_description(oid, 'pg_namespace'), '') FROM pg_namespace "
                 "WHERE nspname = '" +
                 schema_ + "'"),
          "schema");
      schema_checked_ = true;
    }
    pg.script("DROP SCHEMA IF EXISTS " + schema_ + " CASCADE; CREATE SCHEMA " + schema_ +
              "; COMMENT ON SCHEMA " + schema_ + " IS '" + kSchemaMark + "'; SET search_path TO " + schema_);
    for (const auto& st : setup) pg.script(st.sql);
    return *setup_;
  }
  Conn& session(std::size_t index) { return *sessions_.at(index); }
  // Runs so far in which the server, not the schedule, chose which waiting session went first.
  int server_ordered() const { return server_ordered_ + (pg_run_ && pg_run_->server_ordered ? 1 : 0); }

 private:
  std::string database_path() const { return (fs::path(dir_) / "case.db").string(); }

  // racelab drops its schema (MariaDB: database) and makes it again for every interleaving, so it
  // drops only one of its own: named racelab_…, or marked by the comment racelab gives every schema
  // it makes. An existing one without either (public, mysql, an application's) is refused before
  // anything is dropped.
  static constexpr const char* kSchemaMark = "racelab sql: dropped and made again by every interleaving";
  void refuse_foreign_schema(const Answer& found, const char* what) const {
    if (schema_.starts_with("racelab_") || found.rows.empty() ||
        (!found.rows[0].empty() && found.rows[0][0] == kSchemaMark))
      return;
    throw RunError(
        std::string(what) + " '" + schema_ +
        "' exists and is not racelab's: racelab sql drops and makes its " + what +
        " again for every interleaving, so it drops only one named racelab_… or one it made " +
        "itself (marked by its comment). Name another with --schema (racelab_… names are racelab's)");
  }

  void check_schema() const {
    if (schema_.empty() ||
        schema_.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_") != std::string::npos ||
        std::isdigit(static_cast<unsigned char>(schema_.front())))
      throw RunError("schema '" + schema_ + "': use lower-case letters, digits and _");
  }

#ifdef RACELAB_LAB_MARIADB
  // MariaDB: the database Options::schema made again (a schema is a database there), the same
  // connections as the last run, each with the level as its session's default.
  Conn& fresh_mariadb(const std::vector<Statement>& setup, std::size_t n) {
    if (!setup_) {
      auto s = std::make_unique<MariaDbSession>(url_);
      if (!settings_.empty()) s->script(setting_sql("SET SESSION "));
      setup_ = std::move(s);
    }
    while (sessions_.size() < n) {
      auto s = std::make_unique<MariaDbSession>(url_);
      // innodb_lock_wait_timeout ends a wait on something outside the case, max_statement_time a
      // statement that runs on and on (InnoDB itself breaks a deadlock among the sessions at once).
      s->script(
          "SET SESSION innodb_lock_wait_timeout = 10; SET SESSION max_statement_time = 30; "
          "SET SESSION TRANSACTION ISOLATION LEVEL " +
          upper(level_));
      if (!settings_.empty()) s->script(setting_sql("SET SESSION "));
      sessions_.push_back(std::move(s));
    }
    for (auto& s : sessions_) static_cast<MariaDbSession&>(*s).reset();
    auto& m = static_cast<MariaDbSession&>(*setup_);
    if (!schema_checked_) {
      refuse_foreign_schema(
          m.raw("SELECT SCHEMA_COMMENT FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = '" + schema_ +
                "'"),
          "database");
      // A statement that waits for a row lock is seen waiting through SHOW ENGINE INNODB STATUS;
      // without it every lock wait would run to innodb_lock_wait_timeout and end in an error.
      try {
        static_cast<void>(m.raw("SHOW ENGINE INNODB STATUS"));
      } catch (const racelab::mariadb::Error& e) {
        throw RunError("this MariaDB user may not read SHOW ENGINE INNODB STATUS (error " +
                       std::to_string(e.code()) +
                       "), through which racelab sees a statement wait for a lock: it needs the PROCESS "
                       "privilege (GRANT PROCESS ON *.* TO the user; scripts/mariadb's user has it)");
      }
      schema_checked_ = true;
    }
    m.script("DROP DATABASE IF EXISTS " + schema_ + "; CREATE DATABASE " + schema_ + " COMMENT '" +
             kSchemaMark + "'; USE " + schema_);
    for (auto& s : sessions_) static_cast<MariaDbSession&>(*s).script("USE " + schema_);
    for (const auto& st : setup) m.script(st.sql);
    return *setup_;
  }
#endif

  void mariadb_level(const std::string& level) {
    std::string l = lower(level);
    std::replace(l.begin(), l.end(), '_', ' ');
    if (l.empty()) l = "repeatable read";
    if (l != "read uncommitted" && l != "read committed" && l != "repeatable read" && l != "serializable")
      throw RunError("--level '" + level +
                     "': MariaDB's levels are 'read uncommitted', 'read committed', 'repeatable read' (its "
                     "default) and 'serializable'");
    level_ = l;
  }

  void sqlite_level(const std::string& level) {
    std::istringstream words(lower(level));
    std::string w;
    bool mode_set = false, journal_set = false;
    while (words >> w) {
      if ((w == "deferred" || w == "immediate") && !mode_set) {
        immediate_ = w == "immediate";
        mode_set = true;
      } else if ((w == "wal" || w == "rollback") && !journal_set) {
        wal_ = w == "wal";
        journal_set = true;
      } else {
        throw RunError(
            "--level '" + level +
            "': SQLite's levels are 'deferred' or 'immediate' and 'wal' or 'rollback', e.g. 'immediate "
            "rollback'");
      }
    }
    level_ = std::string(immediate_ ? "immediate" : "deferred") + (wal_ ? " wal" : " rollback");
  }

  void postgres_level(const std::string& level) {
    std::string l = lower(level);
    std::replace(l.begin(), l.end(), '_', ' ');
    if (l.empty()) l = "read committed";
    if (l != "read committed" && l != "repeatable read" && l != "serializable")
      throw RunError("--level '" + level +
                     "': PostgreSQL's levels are 'read committed', 'repeatable read' and 'serializable' "
                     "(its 'read uncommitted' is read committed)");
    level_ = l;
  }

  // Each NAME=VALUE as the backend writes it: `<prefix>NAME = VALUE`.
  std::string setting_sql(const std::string& prefix) const {
    std::string sql;
    for (const auto& s : settings_) {
      const auto eq = s.find('=');
      sql += (sql.empty() ? "" : "; ") + prefix + s.substr(0, eq) + " = " + s.substr(eq + 1);
    }
    return sql;
  }

  std::string backend_;
  std::string level_;
  std::vector<std::string> settings_;
  std::string dir_;
  bool owned_ = false;
  bool wal_ = true;
  bool immediate_ = false;
  std::string conninfo_;
#ifdef RACELAB_LAB_MARIADB
  std::string url_;
#endif
  std::string schema_;
  bool schema_checked_ = false;  // refuse_foreign_schema has looked at it
  int server_ordered_ = 0;
  // Declared before the connections that use it, so it outlives them.
  std::unique_ptr<PgRun> pg_run_;
  std::unique_ptr<Conn> setup_;
  std::vector<std::unique_ptr<Conn>> sessions_;
};

bool truthy(const std::string& v) {
  const auto l = lower(v);
  return l == "1" || l == "t" || l == "true";
}

// One run: fresh database, the sessions as tasks, the check. What it saw goes to `steps`/`check`.
struct RunLog {
  std::vector<Step> steps;
  std::string check_value;
  std::optional<racelab::HistoryReport> history;  // with --history, of a run that ran to its end
  std::string rejected;      // the first statement the database refused as SQL, in any run
  std::string unrecorded;    // the first failure of --history's recorder, in any run
  std::size_t left_out = 0;  // reads --history left out of this run's history (Recorder::left_out)
  bool unordered = false;    // this run's history may be out of the database's order (Recorder::unordered)
  // Over every run so far (kept from run to run, as `rejected` is):
  std::size_t runs_left_out = 0;  // runs with reads left out of their history
  std::size_t runs_unjudged = 0;  // runs whose history could not be trusted to judge them
  void case_error(const Statement& st, const std::string& session, const std::string& why) {
    if (rejected.empty())
      rejected = "line " + std::to_string(st.line) + ", session " + session + ": '" + st.sql + "': " + why;
  }
};

Query raw_of(Conn& conn) {
  return [&conn](const std::string& sql) { return conn.raw(sql); };
}

// `setup` with what the recorder needs after it (MariaDB's triggers).
std::vector<Statement> setup_for(const Case& c, const Recorder* recorder) {
  auto setup = c.setup;
  if (recorder != nullptr)
    for (auto& sql : recorder->setup_sql()) setup.push_back({std::move(sql), 0, false});
  return setup;
}

// One run. True if it ran to its end and passed (a failed check or history throws). What it
// leaves in `log` (left_out, unordered) the caller counts, once per distinct run.
bool run_case(racelab::Simulation& sim, const Case& c, Target& target, Recorder* recorder, bool judge,
              RunLog& log) {
  std::string rejected = std::move(log.rejected), unrecorded = std::move(log.unrecorded);
  const auto runs_left_out = log.runs_left_out, runs_unjudged = log.runs_unjudged;
  log = {};
  log.rejected = std::move(rejected);
  log.unrecorded = std::move(unrecorded);
  log.runs_left_out = runs_left_out;
  log.runs_unjudged = runs_unjudged;
  auto& setup = target.fresh(setup_for(c, recorder), c.sessions.size());
  if (recorder != nullptr) try {
      recorder->start(raw_of(setup));
    } catch (const std::exception& e) {
      if (log.unrecorded.empty()) log.unrecorded = std::string("reading the initial rows: ") + e.what();
      return false;
    }
  for (std::size_t i = 0; i < c.sessions.size(); ++i) {
    sim.spawn(c.sessions[i].name, [&c, &log, &target, recorder, i] {
      const auto& session = c.sessions[i];
      auto& conn = target.session(i);
      struct Ended {
        Conn& conn;
        ~Ended() { conn.ended(); }
      } ended{conn};
      bool in_tx = false;
      Values values;  // what \gset kept
      // With --history: the session's transaction in the history, named T1, T1.2, … in turn.
      racelab::History::Txn txn = 0;
      bool open = false;  // txn is running
      int txns = 0;
      for (const auto& st : session.statements) {
        Step step{session.name, st.sql, {}, false};
        bool autocommit = false;  // a statement outside BEGIN … COMMIT: a transaction of its own
        try {
          step.sql = substitute(st.sql, values);
          Shape shape;
          if (recorder != nullptr) {
            shape = recorder->shape(step.sql);
            if (!open && (is_begin(st.sql) || shape.kind != Shape::Kind::none)) {
              ++txns;
              txn = recorder->begin(txns == 1 ? session.name : session.name + "." + std::to_string(txns));
              open = true;
              autocommit = !is_begin(st.sql);
            }
          }
          if (recorder != nullptr)
            if (const auto before = recorder->before(shape); !before.empty())
              static_cast<void>(conn.raw(before));
          const std::size_t sent = recorder != nullptr ? recorder->mark() : 0;
          Answer a = conn.run(recorder != nullptr ? recorder->rewrite(step.sql, shape) : step.sql);
          if (open)
            recorder->record(txn, shape, step.sql, a, raw_of(conn),
                             conn.waited() ? std::optional<std::size_t>(sent) : std::nullopt);
          step.result = describe(step.sql, a);
          if (st.gset) {
            if (a.rows.size() != 1)
              step.result =
                  "error: \\gset needs exactly one row, the query returned " + std::to_string(a.rows.size());
            else
              for (std::size_t col = 0; col < a.columns.size(); ++col)
                values[a.columns[col]] =
                    a.nulls[0][col] ? std::nullopt : std::optional<std::string>(a.rows[0][col]);
          }
        } catch (const racelab::InjectedCrash&) {
          throw;
        } catch (const RecordError& e) {
          if (log.unrecorded.empty()) log.unrecorded = e.what();
          step.result = std::string("error: ") + e.what();
        } catch (const Unbound& e) {
          log.case_error(st, session.name, e.what());
          step.result = std::string("error: ") + e.what();
        } catch (const racelab::postgres::Error& e) {
          // 42xxx: a syntax error, a table or column that does not exist — the case is wrong, in
          // every interleaving; anything else (40001, 40P01, 23505, …) is what the search is for.
          if (e.sqlstate().starts_with("42")) log.case_error(st, session.name, e.what());
          step.result = std::string("error: ") + e.what();
#ifdef RACELAB_LAB_MARIADB
        } catch (const racelab::mariadb::Error& e) {
          if (e.sqlstate().starts_with("42")) log.case_error(st, session.name, e.what());
          step.result = std::string("error: ") + e.what();
#endif
        } catch (const racelab::sqlite::Error& e) {
          if ((e.code() & 0xff) == 1) log.case_error(st, session.name, e.what());  // SQLITE_ERROR
          step.result = std::string("error: ") + e.what();
        } catch (const std::exception& e) {
          step.result = std::string("error: ") + e.what();
        }
        if (const auto eol = step.result.find('\n'); eol != std::string::npos) step.result.resize(eol);
        step.waited = conn.waited();
        const bool failed = step.result.rfind("error: ", 0) == 0;
        log.steps.push_back(std::move(step));
        if (failed) {  // the application gives up on the request: its transaction goes
          if (in_tx) conn.rollback();
          if (open) recorder->abort(txn);
          return;
        }
        if (open && (autocommit || is_end(st.sql))) {
          if (first_word(st.sql) == "ROLLBACK")
            recorder->abort(txn);
          else
            recorder->commit(txn);
          open = false;
        }
        if (is_begin(st.sql)) in_tx = true;
        if (is_end(st.sql)) in_tx = false;
      }
    });
  }
  if (!sim.run().ok()) return false;
  if (recorder != nullptr) {
    try {
      log.history = recorder->finish(raw_of(setup));
      log.left_out = recorder->left_out();
      if (recorder->unordered()) {  // no verdict from a history that may be out of order
        log.unordered = true;
        log.history.reset();
      }
    } catch (const RecordError& e) {
      if (log.unrecorded.empty()) log.unrecorded = e.what();
      return false;
    }
  }
  if (c.check) {
    const auto rows = setup.run(c.check->sql).rows;
    log.check_value = rows.empty() || rows.front().empty() ? "no value" : rows.front().front();
  }
  if (judge && log.history && !log.history->anomalies.empty()) {
    std::string names;
    for (const auto& a : log.history->anomalies)
      names +=
          (names.empty() ? "" : ", ") + a.name + " (" + std::string(racelab::anomaly_title(a.name)) + ")";
    throw racelab::AssertionFailed("the history is not serializable: " + names);
  }
  if (c.check) RACELAB_ASSERT(truthy(log.check_value));
  return true;
}

}  // namespace

Result explore(const Case& c, const Options& options) {
  Target target(options);
  // The setup once outside the search: SQL the server rejects is the case's error, not a failure.
  std::unique_ptr<Recorder> recorder;
  try {  // the connections, the level and the --set settings, with no setup yet
    static_cast<void>(target.fresh({}, c.sessions.size()));
  } catch (const RunError& e) {  // racelab's own refusal (a --schema that is not racelab's): as it is
    throw RunError(c.source + ": " + e.what());
  } catch (const std::exception& e) {
    throw RunError(c.source + ": cannot open the sessions on " + target.backend() +
                   " (the connection, the level or a --set setting): " + e.what());
  }
  try {
    auto& setup = target.fresh(c.setup, c.sessions.size());
    if (c.check) static_cast<void>(setup.run(c.check->sql));
    if (options.history != Options::History::off)
      recorder = std::make_unique<Recorder>(target.backend(), target.level(), raw_of(setup));
  } catch (const std::exception& e) {
    throw RunError(c.source + ": the setup or check failed on " + target.backend() + ": " + e.what());
  }
  if (recorder) {  // every statement must be one the recorder can follow, before any run
    for (const auto& session : c.sessions)
      for (const auto& st : session.statements) try {
          static_cast<void>(recorder->shape(st.sql));
        } catch (const std::invalid_argument& e) {
          throw RunError(c.source + ":" + std::to_string(st.line) + ": --history cannot follow '" + st.sql +
                         "': " + e.what() + "; without --history the case's check still judges it");
        }
    try {
      auto& setup = target.fresh(setup_for(c, recorder.get()), c.sessions.size());
      recorder->start(raw_of(setup));
    } catch (const std::exception& e) {
      throw RunError(c.source + ": --history could not prepare the database on " + target.backend() + ": " +
                     e.what());
    }
  }
  const bool judge = options.history == Options::History::judge;
  RunLog log;
  racelab::ExploreOptions eo;
  eo.runs = options.runs;
  eo.strategy = options.strategy;
  eo.seed = options.seed;
  eo.schedule = options.schedule;
  eo.verify = options.verify;
  eo.use_env = false;
  eo.jobs = 1;  // one database: the runs take turns
  Result result;
  result.backend = target.backend();
  result.level = target.level();
  result.settings = target.settings();
  int runs = 0;
  bool failed = false;       // a run failed: the runs after it are explore's minimizing reruns
  bool last_replay = false;  // the last run was a --verify replay
  std::string last_trace;    // with --verify: the last run's trace
  result.report = racelab::explore(eo, [&](racelab::Simulation& sim) {
    // Counted once per distinct run: with --verify a passing run is followed at once by its replay
    // (ExploreOptions::verify), which has the same trace; not after a failure.
    auto count = [&] {
      std::string trace = options.verify && sim.has_run() ? sim.outcome().trace().text() : std::string();
      const bool replay = options.verify && !last_replay && trace == last_trace;
      last_replay = replay;
      last_trace = std::move(trace);
      if (replay || failed) return;
      log.runs_left_out += log.left_out > 0;
      log.runs_unjudged += log.unordered;
    };
    bool passed = false;
    try {
      passed = run_case(sim, c, target, recorder.get(), judge, log);
    } catch (...) {
      count();
      failed = true;
      throw;
    }
    count();
    failed = failed || !passed;
    if (++runs % 10 == 0 && options.progress) options.progress(runs);
  });
  if (!log.unrecorded.empty())
    throw RunError(c.source + ": --history could not follow a run: " + log.unrecorded +
                   "; without --history the case's check still judges it");
  if (!log.rejected.empty())
    throw RunError(c.source + ": the database rejects a statement (" + log.rejected +
                   "); the search would only explore the error");
  if (result.report.failed()) {
    // The witness: the minimal failing schedule, run once more to see what each statement returned.
    racelab::ExploreOptions replay = eo;
    replay.schedule = result.report.schedule();
    replay.minimize = false;
    static_cast<void>(racelab::explore(replay, [&](racelab::Simulation& sim) {
      static_cast<void>(run_case(sim, c, target, recorder.get(), judge, log));
    }));
    result.witness = log.steps;
    result.check_value = log.check_value;
    result.history = log.history;
    result.left_out = log.left_out;
    result.unordered = log.unordered;
  }
  result.server_ordered = target.server_ordered();
  result.runs_left_out = log.runs_left_out;
  result.runs_unjudged = log.runs_unjudged;
  return result;
}

std::string timeline(const Case& c, const std::vector<Step>& steps) {
  constexpr std::size_t kWidth = 44;
  auto clip = [](std::string s) {
    if (s.size() > kWidth) s = s.substr(0, kWidth - 3) + "...";
    return s;
  };
  auto pad = [](std::string s, std::size_t width) {
    if (s.size() < width) s.append(width - s.size(), ' ');
    return s + "  ";
  };
  std::ostringstream out;
  std::string header = "     ";
  for (const auto& s : c.sessions) header += pad(s.name, kWidth);
  while (!header.empty() && header.back() == ' ') header.pop_back();
  out << header << '\n';
  int n = 0;
  for (const auto& step : steps) {
    const auto column =
        static_cast<std::size_t>(std::find_if(c.sessions.begin(), c.sessions.end(),
                                              [&](const Session& s) { return s.name == step.session; }) -
                                 c.sessions.begin());
    const std::string lines[2] = {clip(step.sql),
                                  clip("-> " + step.result + (step.waited ? " (after a lock wait)" : ""))};
    for (int l = 0; l < 2; ++l) {
      std::string row = l == 0 ? std::to_string(++n) : std::string();
      row.resize(5, ' ');
      for (std::size_t i = 0; i < c.sessions.size(); ++i) row += pad(i == column ? lines[l] : "", kWidth);
      while (!row.empty() && row.back() == ' ') row.pop_back();
      out << row << '\n';
    }
  }
  return out.str();
}

}  // namespace lab::sqlcase
