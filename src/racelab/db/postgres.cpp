// The libpq layer. See racelab/db/postgres.hpp.
#include "racelab/db/postgres.hpp"

#include <libpq-fe.h>
#include <poll.h>
#include <sys/socket.h>

#include <chrono>

#include <cstdlib>

#include "racelab/db/statement.hpp"
#include "racelab/point.hpp"
#include "racelab/sim/sync.hpp"

namespace racelab::postgres {
namespace {

[[noreturn]] void raise(const std::string& sqlstate, const std::string& message) {
  if (sqlstate == "40001") throw SerializationFailure(sqlstate, message);
  if (sqlstate == "40P01") throw DeadlockDetected(sqlstate, message);
  if (sqlstate == "55P03") throw LockNotAvailable(sqlstate, message);
  if (sqlstate == "23505") throw UniqueViolation(sqlstate, message);
  if (sqlstate == "23514") throw CheckViolation(sqlstate, message);
  if (sqlstate == "57014") throw QueryCanceled(sqlstate, message);
  if (sqlstate.starts_with("08")) throw ConnectionLost(sqlstate, message);
  throw Error(sqlstate, message);
}

void check_result(PGresult* r, PGconn* conn, std::string_view sql) {
  auto status = PQresultStatus(r);
  if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK || status == PGRES_EMPTY_QUERY) return;
  const char* state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
  std::string message = "postgres: " + std::string(sql) + ": " +
                        (r != nullptr ? PQresultErrorMessage(r) : PQerrorMessage(conn));
  while (!message.empty() && message.back() == '\n') message.pop_back();
  std::string sqlstate = state != nullptr ? state : "";
  if (sqlstate.empty() && PQstatus(conn) == CONNECTION_BAD) sqlstate = "08006";  // libpq lost the server
  PQclear(r);
  raise(sqlstate, message);
}

void send_cancel(PGconn* conn) noexcept {
  if (PGcancel* cancel = PQgetCancel(conn)) {
    char error[256];
    static_cast<void>(PQcancel(cancel, error, sizeof error));
    PQfreeCancel(cancel);
  }
}

// Waits in real time, at most `ms`, until the statement's reply is complete (or the connection
// broke, which PQgetResult then reports). For teardown, where no task can be scheduled.
bool await_reply(PGconn* conn, int ms) noexcept {
  using namespace std::chrono;
  const auto deadline = steady_clock::now() + milliseconds(ms);
  for (;;) {
    if (PQconsumeInput(conn) == 0 || PQisBusy(conn) == 0) return true;
    const auto left = duration_cast<milliseconds>(deadline - steady_clock::now()).count();
    if (left <= 0) return false;
    pollfd fd{PQsocket(conn), POLLIN, 0};
    static_cast<void>(::poll(&fd, 1, static_cast<int>(left)));
  }
}

// Collects a statement's results during teardown without ever blocking for good: its reply gets
// 2 s (a destructor's own statement usually just finishes); then it is cancelled (it may wait for
// a lock held by a task that never runs again) and gets 2 s more. Returns the last result, or
// nullptr if none came (the connection then stays busy, and its next statement fails at once).
PGresult* finish_bounded(PGconn* conn, bool cancel_first) noexcept {
  constexpr int kReplyMs = 2000;
  if (cancel_first) send_cancel(conn);
  bool cancelled = cancel_first;
  PGresult* last = nullptr;
  for (;;) {
    if (!await_reply(conn, kReplyMs)) {
      if (cancelled) break;
      send_cancel(conn);
      cancelled = true;
      continue;
    }
    PGresult* r = PQgetResult(conn);
    if (r == nullptr) break;
    if (last != nullptr) PQclear(last);
    last = r;
  }
  return last;
}

void send(PGconn* conn, const std::string& sql, int n, const char* const* values) {
  if (PQsendQueryParams(conn, sql.c_str(), n, nullptr, values, nullptr, nullptr, 0) == 0)
    raise("08006", std::string("postgres: send failed: ") + PQerrorMessage(conn));
  while (PQflush(conn) == 1) {
  }
}

// Inside a simulation: send, then let other tasks run until the reply is on the socket.
PGresult* exec_async(PGconn* conn, const std::string& sql, int n, const char* const* values) {
  send(conn, sql, n, values);
  // A task that leaves while its statement runs (torn down: the wait threw the unwind signal)
  // cancels it and drains its results, so the connection is idle again. Otherwise the next
  // statement on it (~Transaction's ROLLBACK) would wait for this one, which may wait for a lock
  // held by a task that never runs again: teardown would hang.
  struct InFlight {
    PGconn* conn;
    bool done = false;
    ~InFlight() {
      if (!done) PQclear(finish_bounded(conn, true));
    }
  } in_flight{conn};
  PGresult* last = nullptr;
  for (;;) {
    if (PQconsumeInput(conn) == 0) raise("08006", std::string("postgres: ") + PQerrorMessage(conn));
    if (PQisBusy(conn) != 0) {
      // Park the task until the socket is readable. Torn down where it may not throw, the wait
      // returns `abandoned`: the reply is collected in bounded real time instead.
      if (racelab::wait_readable(PQsocket(conn), "sql.wait",
                                 "a reply from PostgreSQL (a lock wait, or the server working)") ==
          racelab::WaitResult::abandoned) {
        in_flight.done = true;
        PGresult* r = finish_bounded(conn, false);
        if (r == nullptr) return last;
        if (last != nullptr) PQclear(last);
        return r;
      }
      continue;
    }
    PGresult* r = PQgetResult(conn);
    if (r == nullptr) {
      in_flight.done = true;
      return last;
    }
    if (last != nullptr) PQclear(last);
    last = r;
  }
}

// A statement sent while its simulated task is torn down (a destructor's ROLLBACK): never waits
// for good, since the lock it may need can belong to a task that never runs again.
PGresult* exec_in_teardown(PGconn* conn, const std::string& sql, int n, const char* const* values) {
  send(conn, sql, n, values);
  return finish_bounded(conn, false);
}

}  // namespace

Result::Result(pg_result* r) : result_(r, &PQclear) {}
int Result::rows() const { return PQntuples(result_.get()); }
int Result::columns() const { return PQnfields(result_.get()); }

std::string Result::column_name(int column) const {
  const char* name = PQfname(result_.get(), column);
  return name != nullptr ? name : "";
}
bool Result::is_null(int row, int column) const { return PQgetisnull(result_.get(), row, column) != 0; }
std::string Result::text(int row, int column) const { return PQgetvalue(result_.get(), row, column); }
std::int64_t Result::int64(int row, int column) const {
  return std::strtoll(PQgetvalue(result_.get(), row, column), nullptr, 10);
}
std::int64_t Result::affected() const {
  const char* n = PQcmdTuples(result_.get());
  return n != nullptr && *n != '\0' ? std::strtoll(n, nullptr, 10) : 0;
}

Connection Connection::open(const std::string& conninfo) {
  PGconn* conn = PQconnectdb(conninfo.c_str());
  if (PQstatus(conn) != CONNECTION_OK) {
    std::string message = "postgres: cannot connect with '" + conninfo + "': " + PQerrorMessage(conn);
    while (!message.empty() && message.back() == '\n') message.pop_back();
    PQfinish(conn);
    throw Error("08001", message);
  }
  PQsetNoticeProcessor(
      conn, [](void*, const char*) {}, nullptr);  // NOTICEs are not errors
  return Connection(conn);
}

Connection::Connection(Connection&& other) noexcept : conn_(std::exchange(other.conn_, nullptr)) {}

Connection& Connection::operator=(Connection&& other) noexcept {
  if (this != &other) {
    if (conn_ != nullptr) PQfinish(conn_);
    conn_ = std::exchange(other.conn_, nullptr);
  }
  return *this;
}

Connection::~Connection() {
  if (conn_ != nullptr) PQfinish(conn_);
}

namespace {

// What the server answers in place of a statement for an injected fault: the real SQLSTATE and
// message, raised server-side so the transaction is aborted as the real error aborts it.
std::string raised_by_server(Fault fault, std::string_view point) {
  const char* state = "";
  const char* message = "";
  switch (fault) {
    case Fault::timeout: state = "57014", message = "canceling statement due to statement timeout"; break;
    case Fault::deadlock: state = "40P01", message = "deadlock detected"; break;
    case Fault::serialization:
      state = "40001", message = "could not serialize access due to concurrent update";
      break;
    case Fault::busy: state = "55P03", message = "canceling statement due to lock timeout"; break;
    default: return {};
  }
  return std::string("DO $racelab$ BEGIN RAISE EXCEPTION USING ERRCODE = '") + state + "', MESSAGE = '" +
         message + " (racelab fault " + std::string(to_string(fault)) + " at " + std::string(point) +
         ")'; END $racelab$";
}

// The connection dropped, as a network failure drops it: libpq finds the server gone.
void lose(PGconn* conn) noexcept { static_cast<void>(::shutdown(PQsocket(conn), SHUT_RDWR)); }

}  // namespace

Result Connection::exec_params(std::string_view sql, std::string_view point,
                               const std::vector<std::optional<std::string>>& params) {
  const Point at(point.empty() ? db::statement_point_name(sql) : std::string(point));
  const std::optional<Fault> fault = at.hit_or_fault(db::statement_faults(sql));
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const auto& p : params) values.push_back(p ? p->c_str() : nullptr);
  std::string text(sql);
  int n = static_cast<int>(values.size());
  if (fault == Fault::lost_before) lose(conn_);
  if (fault && fault != Fault::lost_before && fault != Fault::lost_after_commit) {
    text = raised_by_server(*fault, at.name());
    n = 0;
  }
  PGresult* r = !racelab::this_thread::simulated()
                    ? PQexecParams(conn_, text.c_str(), n, nullptr, values.data(), nullptr, nullptr, 0)
                : racelab::abandoned() ? exec_in_teardown(conn_, text, n, values.data())
                                       : exec_async(conn_, text, n, values.data());
  check_result(r, conn_, sql);
  if (fault == Fault::lost_after_commit) {
    PQclear(r);
    lose(conn_);
    throw ConnectionLost("08006", "postgres: " + std::string(sql) +
                                      ": server closed the connection unexpectedly (racelab fault "
                                      "lost_after_commit at " +
                                      std::string(at.name()) + ")");
  }
  return Result(r);
}

void Connection::run_script(std::string_view sql) {
  std::string text(sql);
  PGresult* r = PQexec(conn_, text.c_str());
  check_result(r, conn_, sql.substr(0, 60));
  PQclear(r);
}

Transaction::Transaction(Connection& db, Isolation isolation) : db_(db) {
  switch (isolation) {
    case Isolation::read_committed: db_.exec("BEGIN"); break;
    case Isolation::repeatable_read: db_.exec("BEGIN ISOLATION LEVEL REPEATABLE READ"); break;
    case Isolation::serializable: db_.exec("BEGIN ISOLATION LEVEL SERIALIZABLE"); break;
  }
}

Transaction::~Transaction() {
  if (done_) return;
  // A destructor: no injected crash or unwind signal may be thrown into it, so the ROLLBACK is
  // really sent (also while a crashed or abandoned task unwinds).
  NoThrowScope in_destructor;
  try {
    db_.exec("ROLLBACK");
  } catch (...) {  // a broken connection: nothing more to undo from here
  }
}

// Done once COMMIT succeeded: if it throws (an injected crash before it was sent, a failure) the
// destructor still rolls back, as the server would for a connection that died.
void Transaction::commit() {
  db_.exec("COMMIT");
  done_ = true;
}

}  // namespace racelab::postgres
