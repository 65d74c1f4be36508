// Databases as they are: the SQLite and libpq calls a program makes directly, each statement a
// scheduling point, and a statement that waits for a lock another connection holds blocks its
// thread, not the search.
//
// SQLite. sqlite3_step (when a statement starts) and sqlite3_exec are the points. SQLite's own
// work inside runs quiet (channel.hpp): its mutexes are modelled but are not points, so a
// statement is one step. A lock another connection holds makes SQLite call the busy handler the
// program set (sqlite3_busy_timeout's sleeps), and those sleeps are virtual-time waits that let
// the other threads run: the holder commits, the sleeper retries, as on a real machine but in a
// deterministic order. Without a busy handler SQLite returns SQLITE_BUSY at once, as it always does.
//
// libpq. PQexec, PQexecParams, PQexecPrepared and PQsendQuery, PQsendQueryParams,
// PQsendQueryPrepared are the points; the wait for the server's answer (inside PQexec*, or in
// PQgetResult after a PQsend*) polls the connection's socket. When the answer takes longer than
// a moment, a second connection asks the server whether this statement's backend waits for a lock
// (pg_stat_activity.wait_event_type = 'Lock'). While the other threads are stopped their
// connections hold what they hold, so the answer is stable: if it waits, the thread blocks
// (db_blocked) until another thread's statement returns (db_done), then looks again.
//
// Every function here resolves the library's own with dlsym(RTLD_NEXT): racelab_rt does not
// link SQLite or libpq, and a program that uses neither never calls these.
#include <dlfcn.h>
#include <libpq-fe.h>
#include <poll.h>
#include <sqlite3.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "channel.hpp"

namespace rt = racelab::rt;
namespace wire = racelab::rt::wire;
using wire::Op;

namespace {

template <class F>
F next(const char* name) {
  void* sym = dlsym(RTLD_NEXT, name);
  if (sym == nullptr) {
    std::fprintf(stderr, "racelab_rt: the program calls %s but no library defines it\n", name);
    std::abort();
  }
  return reinterpret_cast<F>(sym);
}
#define RACELAB_NEXT(name) static const auto real_##name = next<decltype(&::name)>(#name)

std::uint64_t here(void* return_address) {
  return rt::site(reinterpret_cast<std::uintptr_t>(return_address));
}

// A statement's scheduling point; `sql` names it in the timeline ("sql.update.accounts@bank.c:40").
void statement_point(wire::DbApi api, const void* handle, const char* sql, std::uint64_t site) {
  std::string_view text = sql == nullptr ? std::string_view("?") : std::string_view(sql);
  if (text.size() > 4096) text = text.substr(0, 4096);
  rt::call({.op = Op::db_statement,
            .obj = reinterpret_cast<std::uintptr_t>(handle),
            .arg0 = static_cast<std::uint64_t>(api),
            .pc = site},
           text);
}

// The statement returned: a lock it held may be free now.
void statement_done() { rt::call({.op = Op::db_done}); }

// The database call itself, quiet, then db_done.
template <class F>
auto inside(std::uint64_t site, F&& call) {
  rt::quiet_begin(site);
  auto result = call();
  rt::quiet_end();
  statement_done();
  return result;
}

bool in_control() { return rt::controlled() && !rt::quiet(); }

// A call the database library makes to itself (SQLite reading its schema with sqlite3_step):
// part of the statement being run, not one of the program's.
bool from_library(std::uint64_t site) {
  if (site != wire::kLibrarySite) return false;
  rt::quiet_begin(site);
  rt::quiet_end();
  return true;
}

// --- libpq: waiting for the server --------------------------------------------------------------

// A second connection to the same server, to ask what a backend waits for. One per run (the
// forked child opens it on first need; it dies with the process).
PGconn* monitor(PGconn* like) {
  static PGconn* conn = nullptr;
  static bool failed = false;
  if (conn != nullptr || failed) return conn;
  RACELAB_NEXT(PQconninfo);
  RACELAB_NEXT(PQconnectdbParams);
  RACELAB_NEXT(PQconninfoFree);
  RACELAB_NEXT(PQstatus);
  PQconninfoOption* options = real_PQconninfo(like);
  std::vector<const char*> keys, values;
  for (auto* o = options; o != nullptr && o->keyword != nullptr; ++o) {
    if (o->val == nullptr || o->val[0] == '\0') continue;
    keys.push_back(o->keyword);
    values.push_back(o->val);
  }
  keys.push_back("application_name");
  values.push_back("racelab monitor");
  keys.push_back(nullptr);
  values.push_back(nullptr);
  conn = real_PQconnectdbParams(keys.data(), values.data(), 0);
  real_PQconninfoFree(options);
  if (real_PQstatus(conn) != CONNECTION_OK) {
    RACELAB_NEXT(PQerrorMessage);
    std::fprintf(stderr,
                 "racelab_rt: cannot open a monitoring connection (%s); a statement blocked on a lock "
                 "will hold up the search\n",
                 real_PQerrorMessage(conn));
    failed = true;
    conn = nullptr;
  }
  return conn;
}

// The backends of the connections this run opened (the forked process is one run).
std::vector<int> g_backends;

void opened(PGconn* conn) {
  RACELAB_NEXT(PQstatus);
  RACELAB_NEXT(PQbackendPID);
  if (conn != nullptr && real_PQstatus(conn) == CONNECTION_OK) g_backends.push_back(real_PQbackendPID(conn));
}

// True when the backend of `conn` waits for a heavyweight lock (a row, a table, a transaction)
// that another connection of this run holds. A lock held from outside (another program, or the
// backend of an earlier run that the server has not cleaned up yet) is waited for in real time.
bool waits_for_lock(PGconn* conn) {
  RACELAB_NEXT(PQbackendPID);
  RACELAB_NEXT(PQexecParams);
  RACELAB_NEXT(PQresultStatus);
  RACELAB_NEXT(PQntuples);
  RACELAB_NEXT(PQgetvalue);
  RACELAB_NEXT(PQclear);
  PGconn* m = monitor(conn);
  if (m == nullptr) return false;
  const std::string pid = std::to_string(real_PQbackendPID(conn));
  std::string ours = "{";
  for (int b : g_backends) {  // appended piece by piece: GCC 12 -O3 warns (falsely) on "," + string
    if (ours.size() > 1) ours += ',';
    ours += std::to_string(b);
  }
  ours += "}";
  const char* params[] = {pid.c_str(), ours.c_str()};
  PGresult* r = real_PQexecParams(m, "SELECT pg_blocking_pids($1::int) && $2::int[]", 2, nullptr, params,
                                  nullptr, nullptr, 0);
  bool waiting = real_PQresultStatus(r) == PGRES_TUPLES_OK && real_PQntuples(r) == 1 &&
                 std::string_view(real_PQgetvalue(r, 0, 0)) == "t";
  real_PQclear(r);
  return waiting;
}

// Returns when PQgetResult(conn) will not block: the server answered (or the connection broke).
// A lock wait in the server blocks the thread in racelab until another statement returns.
void await_result(PGconn* conn, std::uint64_t site) {
  RACELAB_NEXT(PQisBusy);
  RACELAB_NEXT(PQconsumeInput);
  RACELAB_NEXT(PQsocket);
  // Time is counted in 2 ms polls that found nothing: clock_gettime is virtual in a run.
  int silent_polls = 0;
  while (real_PQisBusy(conn) != 0) {
    pollfd fd{.fd = real_PQsocket(conn), .events = POLLIN, .revents = 0};
    if (fd.fd < 0) return;
    if (poll(&fd, 1, 2) > 0) {
      if (real_PQconsumeInput(conn) == 0) return;  // the connection broke: PQgetResult says so
      silent_polls = 0;
      continue;
    }
    if (++silent_polls < 3) continue;
    if (waits_for_lock(conn))
      rt::call({.op = Op::db_blocked, .obj = reinterpret_cast<std::uintptr_t>(conn), .pc = site});
    silent_polls = 0;
  }
}

// What PQexec returns for the results of one query string: the last one, or the first error.
PGresult* collect(PGconn* conn, std::uint64_t site) {
  RACELAB_NEXT(PQgetResult);
  RACELAB_NEXT(PQresultStatus);
  RACELAB_NEXT(PQclear);
  PGresult* kept = nullptr;
  for (;;) {
    await_result(conn, site);
    PGresult* r = real_PQgetResult(conn);
    if (r == nullptr) break;
    auto status = real_PQresultStatus(r);
    if (kept != nullptr && real_PQresultStatus(kept) == PGRES_FATAL_ERROR) {
      real_PQclear(r);
    } else {
      if (kept != nullptr) real_PQclear(kept);
      kept = r;
    }
    if (status == PGRES_COPY_IN || status == PGRES_COPY_OUT || status == PGRES_COPY_BOTH) break;
  }
  return kept;
}

// A PQexec* done as PQsend* + collect, so that the wait can be watched. `send` returns 0 when the
// query could not be sent; PQexec then returns what libpq's own would (a result with the error).
template <class Send>
PGresult* exec_via_send(PGconn* conn, std::uint64_t site, Send&& send) {
  if (send() == 0) {
    RACELAB_NEXT(PQmakeEmptyPGresult);
    return real_PQmakeEmptyPGresult(conn, PGRES_FATAL_ERROR);
  }
  return collect(conn, site);
}

}  // namespace

extern "C" {

// --- SQLite ---------------------------------------------------------------------------------------

[[gnu::visibility("default")]] int sqlite3_step(sqlite3_stmt* stmt) {
  RACELAB_NEXT(sqlite3_step);
  if (!in_control()) return real_sqlite3_step(stmt);
  RACELAB_NEXT(sqlite3_stmt_busy);
  auto site = here(__builtin_return_address(0));
  if (from_library(site)) return real_sqlite3_step(stmt);
  if (real_sqlite3_stmt_busy(stmt) == 0) {  // the statement starts (later steps fetch its rows)
    RACELAB_NEXT(sqlite3_sql);
    statement_point(wire::DbApi::sqlite, stmt, real_sqlite3_sql(stmt), site);
  }
  return inside(site, [&] { return real_sqlite3_step(stmt); });
}

[[gnu::visibility("default")]] int sqlite3_exec(sqlite3* db, const char* sql,
                                                int (*callback)(void*, int, char**, char**), void* arg,
                                                char** error) {
  RACELAB_NEXT(sqlite3_exec);
  if (!in_control()) return real_sqlite3_exec(db, sql, callback, arg, error);
  auto site = here(__builtin_return_address(0));
  if (from_library(site)) return real_sqlite3_exec(db, sql, callback, arg, error);
  statement_point(wire::DbApi::sqlite, db, sql, site);
  return inside(site, [&] { return real_sqlite3_exec(db, sql, callback, arg, error); });
}

// --- libpq ----------------------------------------------------------------------------------------

[[gnu::visibility("default")]] PGresult* PQexec(PGconn* conn, const char* query) {
  RACELAB_NEXT(PQexec);
  if (!in_control()) return real_PQexec(conn, query);
  RACELAB_NEXT(PQsendQuery);
  auto site = here(__builtin_return_address(0));
  if (from_library(site)) return real_PQexec(conn, query);
  statement_point(wire::DbApi::libpq, conn, query, site);
  return inside(site,
                [&] { return exec_via_send(conn, site, [&] { return real_PQsendQuery(conn, query); }); });
}

[[gnu::visibility("default")]] PGresult* PQexecParams(PGconn* conn, const char* command, int n,
                                                      const Oid* types, const char* const* values,
                                                      const int* lengths, const int* formats,
                                                      int result_format) {
  RACELAB_NEXT(PQexecParams);
  if (!in_control())
    return real_PQexecParams(conn, command, n, types, values, lengths, formats, result_format);
  RACELAB_NEXT(PQsendQueryParams);
  auto site = here(__builtin_return_address(0));
  statement_point(wire::DbApi::libpq, conn, command, site);
  return inside(site, [&] {
    return exec_via_send(conn, site, [&] {
      return real_PQsendQueryParams(conn, command, n, types, values, lengths, formats, result_format);
    });
  });
}

[[gnu::visibility("default")]] PGresult* PQexecPrepared(PGconn* conn, const char* name, int n,
                                                        const char* const* values, const int* lengths,
                                                        const int* formats, int result_format) {
  RACELAB_NEXT(PQexecPrepared);
  if (!in_control()) return real_PQexecPrepared(conn, name, n, values, lengths, formats, result_format);
  RACELAB_NEXT(PQsendQueryPrepared);
  auto site = here(__builtin_return_address(0));
  std::string text = std::string("EXECUTE ") + (name == nullptr ? "" : name);
  statement_point(wire::DbApi::libpq, conn, text.c_str(), site);
  return inside(site, [&] {
    return exec_via_send(conn, site, [&] {
      return real_PQsendQueryPrepared(conn, name, n, values, lengths, formats, result_format);
    });
  });
}

[[gnu::visibility("default")]] int PQsendQuery(PGconn* conn, const char* query) {
  RACELAB_NEXT(PQsendQuery);
  if (!in_control()) return real_PQsendQuery(conn, query);
  auto site = here(__builtin_return_address(0));
  statement_point(wire::DbApi::libpq, conn, query, site);
  rt::quiet_begin(site);
  int sent = real_PQsendQuery(conn, query);
  rt::quiet_end();
  return sent;
}

[[gnu::visibility("default")]] int PQsendQueryParams(PGconn* conn, const char* command, int n,
                                                     const Oid* types, const char* const* values,
                                                     const int* lengths, const int* formats,
                                                     int result_format) {
  RACELAB_NEXT(PQsendQueryParams);
  if (!in_control())
    return real_PQsendQueryParams(conn, command, n, types, values, lengths, formats, result_format);
  auto site = here(__builtin_return_address(0));
  statement_point(wire::DbApi::libpq, conn, command, site);
  rt::quiet_begin(site);
  int sent = real_PQsendQueryParams(conn, command, n, types, values, lengths, formats, result_format);
  rt::quiet_end();
  return sent;
}

[[gnu::visibility("default")]] int PQsendQueryPrepared(PGconn* conn, const char* name, int n,
                                                       const char* const* values, const int* lengths,
                                                       const int* formats, int result_format) {
  RACELAB_NEXT(PQsendQueryPrepared);
  if (!in_control()) return real_PQsendQueryPrepared(conn, name, n, values, lengths, formats, result_format);
  auto site = here(__builtin_return_address(0));
  std::string text = std::string("EXECUTE ") + (name == nullptr ? "" : name);
  statement_point(wire::DbApi::libpq, conn, text.c_str(), site);
  rt::quiet_begin(site);
  int sent = real_PQsendQueryPrepared(conn, name, n, values, lengths, formats, result_format);
  rt::quiet_end();
  return sent;
}

// Connecting and disconnecting run quiet: libpq's setup calls into libc, OpenSSL and GSSAPI (their
// mutexes, pthread_once), none of which is the program's concurrency.
#define RACELAB_QUIET(ret, name, params, args, after)   \
  [[gnu::visibility("default")]] ret name params {      \
    RACELAB_NEXT(name);                                 \
    if (!rt::controlled()) return real_##name args;     \
    rt::quiet_begin(here(__builtin_return_address(0))); \
    auto result = real_##name args;                     \
    after;                                              \
    rt::quiet_end();                                    \
    return result;                                      \
  }
RACELAB_QUIET(PGconn*, PQconnectdb, (const char* conninfo), (conninfo), opened(result))
RACELAB_QUIET(PGconn*, PQconnectdbParams, (const char* const* keys, const char* const* values, int expand),
              (keys, values, expand), opened(result))
RACELAB_QUIET(PGconn*, PQsetdbLogin,
              (const char* host, const char* port, const char* options, const char* tty, const char* db,
               const char* user, const char* password),
              (host, port, options, tty, db, user, password), opened(result))
RACELAB_QUIET(PGresult*, PQprepare,
              (PGconn * conn, const char* name, const char* query, int n, const Oid* types),
              (conn, name, query, n, types), static_cast<void>(0))

[[gnu::visibility("default")]] void PQfinish(PGconn* conn) {
  RACELAB_NEXT(PQfinish);
  if (!rt::controlled()) return real_PQfinish(conn);
  rt::quiet_begin(here(__builtin_return_address(0)));
  real_PQfinish(conn);
  rt::quiet_end();
}

[[gnu::visibility("default")]] PGresult* PQgetResult(PGconn* conn) {
  RACELAB_NEXT(PQgetResult);
  if (!in_control()) return real_PQgetResult(conn);
  await_result(conn, here(__builtin_return_address(0)));
  PGresult* r = real_PQgetResult(conn);
  if (r == nullptr) statement_done();  // the query's last result was taken
  return r;
}

}  // extern "C"
