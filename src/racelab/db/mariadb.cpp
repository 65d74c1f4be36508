// The MariaDB Connector/C layer. See racelab/db/mariadb.hpp.
//
// Three ways a call reaches the server. Outside a simulation: Connector/C's blocking calls. On a
// simulated task: the non-blocking calls (`…_start` / `…_cont`, enabled by MYSQL_OPT_NONBLOCK at
// connect), the reply awaited in real time and the task parked only while the server says the
// statement waits for a row lock another task holds (see `finish`). During teardown (the
// task may not wait for other tasks any more): the same non-blocking calls, polled in bounded real
// time, the statement killed from a second connection when it does not finish.
#include "racelab/db/mariadb.hpp"

#include <mysql.h>
#include <poll.h>
#include <sys/socket.h>

#include <mysqld_error.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <utility>
#include <vector>

#include "racelab/db/statement.hpp"
#include "racelab/point.hpp"
#include "racelab/sim/sync.hpp"

namespace racelab::mariadb {

struct Result::Data {
  MYSQL_RES* res = nullptr;
  std::vector<MYSQL_ROW> rows;
  std::vector<unsigned long> lengths;  // rows × columns
  int columns = 0;
  std::int64_t affected = 0;
  Data() = default;
  Data(const Data&) = delete;
  Data& operator=(const Data&) = delete;
  ~Data() {
    if (res != nullptr) mysql_free_result(res);
  }
};

namespace {

// Client errors of Connector/C (errmsg.h) that mean the connection is gone.
constexpr unsigned kServerGone = 2006;  // CR_SERVER_GONE_ERROR
constexpr unsigned kServerLost = 2013;  // CR_SERVER_LOST
constexpr unsigned kServerLostExtended = 2055;
constexpr unsigned kLockNowait = 3572;  // MySQL's ER_LOCK_NOWAIT; MariaDB 10.11 answers 1205

[[noreturn]] void raise(unsigned code, const std::string& sqlstate, const std::string& message) {
  switch (code) {
    case ER_CHECKREAD: throw SerializationFailure(code, sqlstate, message);
    case ER_LOCK_DEADLOCK: throw DeadlockDetected(code, sqlstate, message);
    case ER_LOCK_WAIT_TIMEOUT:
    case kLockNowait: throw LockNotAvailable(code, sqlstate, message);
    case ER_DUP_ENTRY:
    case ER_DUP_ENTRY_WITH_KEY_NAME: throw UniqueViolation(code, sqlstate, message);
    case ER_CONSTRAINT_FAILED: throw CheckViolation(code, sqlstate, message);
    case ER_STATEMENT_TIMEOUT:
    case ER_QUERY_INTERRUPTED: throw QueryCanceled(code, sqlstate, message);
    case kServerGone:
    case kServerLost:
    case kServerLostExtended:
    case ER_CONNECTION_KILLED: throw ConnectionLost(code, sqlstate, message);
    default: throw Error(code, sqlstate, message);
  }
}

// The connection's last error, typed. `suffix` names an injected fault.
[[noreturn]] void raise_last(MYSQL* m, std::string_view sql, std::string_view suffix = {}) {
  const unsigned code = mysql_errno(m);
  const std::string sqlstate = mysql_sqlstate(m);
  raise(code, sqlstate,
        "mariadb: " + std::string(sql) + ": " + mysql_error(m) + std::string(suffix) + " (error " +
            std::to_string(code) + ", SQLSTATE " + sqlstate + ")");
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string percent_decode(std::string_view s, std::string_view url) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out += s[i];
      continue;
    }
    const int hi = i + 2 < s.size() ? hex_digit(s[i + 1]) : -1;
    const int lo = i + 2 < s.size() ? hex_digit(s[i + 2]) : -1;
    if (hi < 0 || lo < 0)
      throw std::invalid_argument(
          "mariadb: malformed URL '" + std::string(url) +
          "': a bad percent-encoding (expected mariadb://user[:password]@host[:port]/database)");
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return out;
}

}  // namespace

Url parse_url(std::string_view url) {
  const auto bad = [url](const std::string& what) {
    return std::invalid_argument("mariadb: malformed URL '" + std::string(url) + "': " + what +
                                 " (expected mariadb://user[:password]@host[:port]/database)");
  };
  constexpr std::string_view kScheme = "mariadb://";
  if (!url.starts_with(kScheme)) throw bad("it does not start with mariadb://");
  std::string_view rest = url.substr(kScheme.size());
  Url out;
  if (const auto q = rest.find('?'); q != std::string_view::npos) {
    for (std::string_view opts = rest.substr(q + 1); !opts.empty();) {
      const auto amp = opts.find('&');
      const std::string_view opt = opts.substr(0, amp);
      opts = amp == std::string_view::npos ? std::string_view{} : opts.substr(amp + 1);
      if (!opt.starts_with("socket="))
        throw bad("unknown option '" + std::string(opt) + "' (known: socket=PATH)");
      out.socket = percent_decode(opt.substr(7), url);
    }
    rest = rest.substr(0, q);
  }
  const auto at = rest.rfind('@');
  if (at == std::string_view::npos) throw bad("no user (user@host)");
  const std::string_view userinfo = rest.substr(0, at);
  const auto colon = userinfo.find(':');
  out.user = percent_decode(userinfo.substr(0, colon), url);
  if (colon != std::string_view::npos) out.password = percent_decode(userinfo.substr(colon + 1), url);
  if (out.user.empty()) throw bad("an empty user");
  rest = rest.substr(at + 1);
  const auto slash = rest.find('/');
  if (slash == std::string_view::npos || slash + 1 == rest.size()) throw bad("no database (/database)");
  out.database = percent_decode(rest.substr(slash + 1), url);
  const std::string_view hostport = rest.substr(0, slash);
  const auto port_at = hostport.rfind(':');
  out.host = std::string(hostport.substr(0, port_at));
  if (out.host.empty()) throw bad("no host");
  if (port_at != std::string_view::npos) {
    const std::string_view digits = hostport.substr(port_at + 1);
    unsigned port = 0;
    for (char c : digits) {
      if (c < '0' || c > '9' || port > 65535) throw bad("port '" + std::string(digits) + "' is not a number");
      port = port * 10 + static_cast<unsigned>(c - '0');
    }
    if (digits.empty() || port == 0 || port > 65535)
      throw bad("port '" + std::string(digits) + "' is out of range");
    out.port = port;
  }
  return out;
}

namespace {

// --- waiting for the server -------------------------------------------------------------------

// Waits in real time, at most `ms`, for what Connector/C asked (MYSQL_WAIT_READ / _WRITE); returns
// the events that happened (a hang-up counts as both, so the call finds the error), or 0 if none
// did. Connector/C's own timeout flag (MYSQL_WAIT_TIMEOUT) is not used: racelab bounds every wait.
int poll_real(MYSQL* m, int wanted, int ms) noexcept {
  pollfd fd{mysql_get_socket(m), 0, 0};
  if ((wanted & MYSQL_WAIT_READ) != 0) fd.events |= POLLIN;
  if ((wanted & MYSQL_WAIT_WRITE) != 0) fd.events |= POLLOUT;
  if (fd.events == 0) return MYSQL_WAIT_TIMEOUT;  // only a timeout was asked for
  if (::poll(&fd, 1, ms) <= 0) return 0;
  int ready = 0;
  if ((fd.revents & POLLIN) != 0) ready |= MYSQL_WAIT_READ;
  if ((fd.revents & POLLOUT) != 0) ready |= MYSQL_WAIT_WRITE;
  if ((fd.revents & (POLLERR | POLLHUP | POLLNVAL)) != 0)
    ready |= wanted & (MYSQL_WAIT_READ | MYSQL_WAIT_WRITE);
  return ready;
}

// The connection dropped, as a network failure drops it: Connector/C finds the server gone.
void lose(MYSQL* m) noexcept { static_cast<void>(::shutdown(mysql_get_socket(m), SHUT_RDWR)); }

// Kills the statement connection `id` runs, from a second, short-lived connection (MariaDB's
// cancel: the statement fails with 1317 and its lock wait ends).
void kill_query(const Url& url, unsigned long id) noexcept {
  if (id == 0) return;
  MYSQL* side = mysql_init(nullptr);
  if (side == nullptr) return;
  unsigned int timeout_s = 2;
  mysql_options(side, MYSQL_OPT_CONNECT_TIMEOUT, &timeout_s);
  mysql_options(side, MYSQL_OPT_READ_TIMEOUT, &timeout_s);
  mysql_options(side, MYSQL_OPT_WRITE_TIMEOUT, &timeout_s);
  if (mysql_real_connect(side, url.host.c_str(), url.user.c_str(), url.password.c_str(), nullptr, url.port,
                         url.socket.empty() ? nullptr : url.socket.c_str(), 0) != nullptr) {
    const std::string kill = "KILL QUERY " + std::to_string(id);
    static_cast<void>(mysql_real_query(side, kill.c_str(), kill.size()));
  }
  mysql_close(side);
}

// A started non-blocking call: `status` is what it waits for (0: done); cont(ready) continues it.
using Cont = std::function<int(int ready)>;

// Runs a started call to its end without ever blocking for good, where no task can be scheduled
// (teardown): the reply gets 2 s (a destructor's own statement usually just finishes); then the
// statement is killed (it may wait for a lock held by a task that never runs again) and gets 2 s
// more; then the socket is shut, and the call ends with a lost connection.
void finish_bounded(MYSQL* m, const Url& url, int status, const Cont& cont, bool kill_first) noexcept {
  using namespace std::chrono;
  constexpr int kReplyMs = 2000;
  constexpr int kRoundsMax = 100'000;  // a call that never ends is cut off with the socket
  if (kill_first) kill_query(url, mysql_thread_id(m));
  int stage = kill_first ? 1 : 0;  // 0: waiting, 1: killed, 2: socket shut
  auto deadline = steady_clock::now() + milliseconds(kReplyMs);
  for (int round = 0; status != 0; ++round) {
    const auto left = duration_cast<milliseconds>(deadline - steady_clock::now()).count();
    int ready = left > 0 ? poll_real(m, status, static_cast<int>(left)) : 0;
    if (ready == 0 || round > kRoundsMax) {
      if (stage == 0) kill_query(url, mysql_thread_id(m));
      if (stage >= 1) lose(m);
      stage = std::min(stage + 1, 2);
      deadline = steady_clock::now() + milliseconds(kReplyMs);
      if (stage < 2) continue;
      ready = MYSQL_WAIT_READ | MYSQL_WAIT_WRITE;
    }
    try {
      status = cont(ready);
    } catch (...) {
      return;
    }
  }
}

// What a call needs beside the connection: where to send a KILL QUERY from, and the second
// connection that asks the server whether a statement waits for a lock (opened when first needed).
struct Wire {
  MYSQL* m;
  const Url& url;
  MYSQL*& probe;
  bool& waited;  // set once the statement parked for a row lock
};

// Whether the server says connection `m`'s transaction waits for a row lock (InnoDB's LOCK WAIT).
// Asked on the probe connection, in real time. `denied`: the user lacks the PROCESS privilege, so
// no wait can ever be seen (each would be waited out to innodb_lock_wait_timeout); `no` as well
// when it cannot tell otherwise (the probe cannot connect): the statement is then waited for in
// real time, up to its bound.
enum class LockWait { no, yes, denied };
constexpr unsigned kNoProcessPrivilege = 1227;  // ER_SPECIFIC_ACCESS_DENIED_ERROR

LockWait lock_wait(Wire& w) noexcept {
  if (w.probe == nullptr) {
    MYSQL* p = mysql_init(nullptr);
    if (p == nullptr) return LockWait::no;
    unsigned int timeout_s = 5;
    mysql_options(p, MYSQL_OPT_CONNECT_TIMEOUT, &timeout_s);
    mysql_options(p, MYSQL_OPT_READ_TIMEOUT, &timeout_s);
    if (mysql_real_connect(p, w.url.host.c_str(), w.url.user.c_str(), w.url.password.c_str(), nullptr,
                           w.url.port, w.url.socket.empty() ? nullptr : w.url.socket.c_str(), 0) == nullptr) {
      mysql_close(p);
      return LockWait::no;
    }
    w.probe = p;
  }
  // SHOW ENGINE INNODB STATUS, not information_schema.INNODB_TRX: that table is a cache refreshed
  // only when it was last read over 100 ms ago, so the probes of parallel runs keep it stale.
  constexpr std::string_view kStatus = "SHOW ENGINE INNODB STATUS";
  if (mysql_real_query(w.probe, kStatus.data(), kStatus.size()) != 0)
    return mysql_errno(w.probe) == kNoProcessPrivilege ? LockWait::denied : LockWait::no;
  MYSQL_RES* res = mysql_store_result(w.probe);
  if (res == nullptr) return LockWait::no;
  MYSQL_ROW row = mysql_fetch_row(res);
  const std::string status = row != nullptr && mysql_num_fields(res) >= 3 && row[2] != nullptr ? row[2] : "";
  mysql_free_result(res);
  // One block per transaction: "---TRANSACTION 42, ACTIVE …", then "LOCK WAIT …" while it waits,
  // and "MariaDB thread id 157, …" naming its connection.
  const std::string thread = "thread id " + std::to_string(mysql_thread_id(w.m)) + ",";
  for (std::size_t at = status.find("---TRANSACTION"); at != std::string::npos;) {
    const std::size_t next = status.find("---TRANSACTION", at + 1);
    const std::string_view block =
        std::string_view(status).substr(at, next == std::string::npos ? std::string::npos : next - at);
    if (block.find(thread) != std::string_view::npos)
      return block.find("\nLOCK WAIT") != std::string_view::npos ? LockWait::yes : LockWait::no;
    at = next;
  }
  return LockWait::no;
}
bool waits_for_lock(Wire& w) noexcept { return lock_wait(w) == LockWait::yes; }

// Without PROCESS no lock wait can be seen, so each lasts until innodb_lock_wait_timeout and ends
// in an error: said once per process (racelab sql refuses such a user before it starts). Not an
// error of the statement: whether a statement is slow enough to be asked about is timing.
void warn_no_process_privilege(const std::string& user) noexcept {
  static std::atomic<bool> said{false};
  if (said.exchange(true)) return;
  std::fprintf(stderr,
               "racelab::mariadb: warning: user '%s' may not read SHOW ENGINE INNODB STATUS (it needs the "
               "PROCESS privilege), so a statement that waits for a row lock cannot be seen waiting: each "
               "such wait lasts until innodb_lock_wait_timeout. GRANT PROCESS ON *.* TO the user.\n",
               user.c_str());
}

// A simulated task's statement parked on a row lock: what it waits for, and where it sleeps.
struct Parked {
  Wire& w;
  int status;  // what Connector/C waits for (MYSQL_WAIT_READ while the server works)
  racelab::WaitQueue queue;
  bool answered = false;  // a settle woke its task, which has not run since
};

// The parked statements of this thread's simulation, in the order they parked.
std::vector<Parked*>& parked_calls() {
  thread_local std::vector<Parked*> calls;
  return calls;
}

// Every parked statement but `self` comes to rest: it is answered (its reply has begun to arrive,
// or the server no longer says it waits and its reply follows in real time), and its task wakes;
// or the server confirms it still waits for a row lock, and it stays parked. Called by the running
// task whenever its own statement ends or parks, so the others' states never depend on how soon
// the server answers: a COMMIT's released locks, or a deadlock InnoDB broke by rolling back a
// parked victim (whose error would otherwise wait unread while the rest looked blocked), are seen
// at the next scheduling decision, every time.
// True if it woke any.
bool settle_parked(const Parked* self) noexcept {
  using namespace std::chrono;
  constexpr int kSliceMs = 5;
  constexpr auto kSettleMax = seconds(60);  // as `finish`: a statement neither answered nor waiting
  std::vector<Parked*> open;
  for (Parked* p : parked_calls())
    if (p != self && !p->answered) open.push_back(p);
  bool any = false;
  // Passes until one wakes nobody: a statement answered in one pass may have freed, inside the
  // server, another that an earlier look saw waiting (an autocommit statement ends its
  // transaction before its reply), so every look after an answer is taken again.
  for (bool woke = true; woke && !open.empty();) {
    woke = false;
    for (auto it = open.begin(); it != open.end();) {
      Parked* p = *it;
      const auto deadline = steady_clock::now() + kSettleMax;
      bool answered = false;
      // Answered already, or still waiting (asked first, with no delay: a lock the last statement
      // released was granted before its reply was sent, a deadlock's victim chosen before the
      // survivor's), or else it works on: its reply, or a new lock wait, follows in real time.
      for (int slice_ms = 0;; slice_ms = kSliceMs) {
        if (poll_real(p->w.m, p->status, slice_ms) != 0 || steady_clock::now() >= deadline) {
          answered = true;  // past the deadline too: its task runs and waits on in `finish`, bounded there
          break;
        }
        if ((p->status & MYSQL_WAIT_READ) != 0 && waits_for_lock(p->w)) break;
      }
      if (answered) {
        p->answered = true;
        p->queue.notify_all();
        woke = any = true;
        it = open.erase(it);
      } else {
        ++it;
      }
    }
  }
  return any;
}

// Where a call waits: simulated (a task parks only while the server says it waits for a lock) or
// in bounded real time during teardown.
enum class Mode { simulated, teardown };

// Runs a started call to its end on a simulated task, deterministically: the reply is awaited in
// real time (no other task runs meanwhile, so the run cannot depend on how fast the server is)
// unless the server confirms the statement waits for a row lock — which only another task can
// release. Then the other parked statements settle, the task parks at `sql.wait` and the others
// run; it is woken when a settle finds it answered. Torn down while parked (the wait threw the
// unwind signal), the call is killed and finished in bounded time as the task unwinds, so the
// connection is idle again: the next statement on it (~Transaction's ROLLBACK) would otherwise
// wait for this one.
void finish(Wire& w, Mode& mode, int status, const Cont& cont) {
  using namespace std::chrono;
  if (mode == Mode::teardown) return finish_bounded(w.m, w.url, status, cont, false);
  struct InFlight {
    Wire& w;
    const Cont& cont;
    int status;
    ~InFlight() {
      if (status != 0) finish_bounded(w.m, w.url, status, cont, true);
    }
  } in_flight{w, cont, status};
  constexpr int kSliceMs = 5;              // a reply usually comes sooner; then the server is asked
  constexpr auto kReplyMax = seconds(60);  // a statement neither answered nor waiting for a lock
  auto deadline = steady_clock::now() + kReplyMax;
  while (in_flight.status != 0) {
    int ready = poll_real(w.m, in_flight.status, kSliceMs);
    // A lock wait is confirmed twice, a slice apart: InnoDB shows a wait as soon as the lock is
    // queued, and only then checks whether it closes a deadlock (and rolls a victim back).
    const LockWait first =
        ready == 0 && (in_flight.status & MYSQL_WAIT_READ) != 0 ? lock_wait(w) : LockWait::no;
    if (first == LockWait::denied) warn_no_process_privilege(w.url.user);
    if (first == LockWait::yes && (ready = poll_real(w.m, in_flight.status, kSliceMs)) == 0 &&
        waits_for_lock(w)) {
      Parked parked{w, in_flight.status, {}};
      // Before parking, the other parked statements settle. If that answered any, this statement
      // is looked at again: the one answered may have held what this one waits for (a deadlock's
      // victim, parked, is answered only once the server has rolled it back, which can take longer
      // than two probes, and then this statement goes on), so whether it parks must not depend on
      // how fast the server rolled back.
      if (settle_parked(&parked)) {
        deadline = steady_clock::now() + kReplyMax;  // the settle's own waits are not this statement's
        continue;
      }
      w.waited = true;
      struct Listed {
        Parked* p;
        explicit Listed(Parked* parked) : p(parked) { parked_calls().push_back(p); }
        ~Listed() { std::erase(parked_calls(), p); }
      };
      racelab::WaitResult woke;
      {
        Listed listed(&parked);
        woke = parked.queue.wait("sql.wait", "a row lock another task holds (MariaDB)");
      }
      if (woke == racelab::WaitResult::abandoned) {
        mode = Mode::teardown;
        const int status_now = std::exchange(in_flight.status, 0);
        return finish_bounded(w.m, w.url, status_now, cont, true);
      }
      deadline = steady_clock::now() + kReplyMax;
      continue;
    }
    if (ready == 0) {
      if (steady_clock::now() < deadline) continue;
      lose(w.m);  // no answer for a minute, and no lock wait: give the connection up
      ready = in_flight.status & (MYSQL_WAIT_READ | MYSQL_WAIT_WRITE);
    }
    in_flight.status = cont(ready);
  }
}

// After a statement ended on a simulated task: the parked statements settle (a COMMIT, a
// statement outside a transaction, a failure or a broken deadlock may have answered some).
void settled() noexcept { settle_parked(nullptr); }

// A result set left unread by a statement torn down mid-way: read and dropped, or the connection
// refuses every further command (2014, commands out of sync) — ~Transaction's ROLLBACK included.
void discard_pending(Wire& w, Mode& mode) {
  MYSQL* m = w.m;
  if (m->status != MYSQL_STATUS_GET_RESULT) return;
  MYSQL_RES* res = nullptr;
  if (!racelab::this_thread::simulated()) {
    res = mysql_store_result(m);
  } else {
    const Cont store_cont = [m, &res](int ready) { return mysql_store_result_cont(&res, m, ready); };
    finish(w, mode, mysql_store_result_start(&res, m), store_cont);
  }
  if (res != nullptr) mysql_free_result(res);
}

// Sends one statement and collects its result: blocking outside a simulation, else as `finish`.
std::shared_ptr<Result::Data> run(Wire& w, const std::string& text, std::string_view sql,
                                  std::string_view suffix = {}) {
  MYSQL* m = w.m;
  auto data = std::make_shared<Result::Data>();
  const bool simulated = racelab::this_thread::simulated();
  Mode mode = simulated && racelab::abandoned() ? Mode::teardown : Mode::simulated;
  discard_pending(w, mode);
  if (!simulated) {
    if (mysql_real_query(m, text.data(), text.size()) != 0) raise_last(m, sql, suffix);
    if (mysql_field_count(m) == 0) {
      data->affected = static_cast<std::int64_t>(mysql_affected_rows(m));
      return data;
    }
    data->res = mysql_store_result(m);
  } else {
    int err = 0;
    const Cont query_cont = [m, &err](int ready) { return mysql_real_query_cont(&err, m, ready); };
    finish(w, mode, mysql_real_query_start(&err, m, text.data(), text.size()), query_cont);
    if (mode == Mode::simulated) settled();
    if (err != 0) raise_last(m, sql, suffix);
    if (mysql_field_count(m) == 0) {
      data->affected = static_cast<std::int64_t>(mysql_affected_rows(m));
      return data;
    }
    MYSQL_RES* res = nullptr;
    const Cont store_cont = [m, &res](int ready) { return mysql_store_result_cont(&res, m, ready); };
    finish(w, mode, mysql_store_result_start(&res, m), store_cont);
    data->res = res;
  }
  if (data->res == nullptr) raise_last(m, sql, suffix);
  data->columns = static_cast<int>(mysql_num_fields(data->res));
  data->affected = static_cast<std::int64_t>(mysql_num_rows(data->res));
  while (MYSQL_ROW row = mysql_fetch_row(data->res)) {
    data->rows.push_back(row);
    const unsigned long* lengths = mysql_fetch_lengths(data->res);
    data->lengths.insert(data->lengths.end(), lengths, lengths + data->columns);
  }
  return data;
}

// --- binding ----------------------------------------------------------------------------------

void append_value(MYSQL* m, std::string& out, const Connection::Param& p) {
  if (!p.value) {
    out += "NULL";
    return;
  }
  if (!p.quoted) {
    out += *p.value;
    return;
  }
  std::string escaped(p.value->size() * 2 + 1, '\0');
  const unsigned long n = mysql_real_escape_string(m, escaped.data(), p.value->data(), p.value->size());
  if (n == static_cast<unsigned long>(-1))
    throw std::invalid_argument("mariadb: a parameter is not valid in the connection's character set");
  escaped.resize(n);
  out += '\'';
  out += escaped;
  out += '\'';
}

// Copies sql[i…] up to and including the end of the quoted text that starts at i.
std::size_t copy_quoted(std::string_view sql, std::size_t i, bool backslash_escapes, std::string& out) {
  const char quote = sql[i];
  out += sql[i++];
  while (i < sql.size()) {
    const char c = sql[i];
    out += c;
    ++i;
    if (c == '\\' && backslash_escapes && quote != '`' && i < sql.size()) {
      out += sql[i++];
    } else if (c == quote) {
      if (i < sql.size() && sql[i] == quote) {  // '' inside '…'
        out += sql[i++];
      } else {
        break;
      }
    }
  }
  return i;
}

// The statement with each `?` outside quotes, identifiers and comments replaced by its value.
std::string bind(MYSQL* m, std::string_view sql, const std::vector<Connection::Param>& params) {
  const bool backslash_escapes = (m->server_status & SERVER_STATUS_NO_BACKSLASH_ESCAPES) == 0;
  std::string out;
  out.reserve(sql.size() + 16 * params.size());
  std::size_t next = 0;
  for (std::size_t i = 0; i < sql.size();) {
    const char c = sql[i];
    if (c == '\'' || c == '"' || c == '`') {
      i = copy_quoted(sql, i, backslash_escapes, out);
      continue;
    }
    const std::string_view tail = sql.substr(i);
    const bool line_comment =
        c == '#' ||
        (tail.starts_with("--") && (tail.size() == 2 || std::isspace(static_cast<unsigned char>(tail[2]))));
    if (line_comment || tail.starts_with("/*")) {
      std::size_t end = line_comment ? sql.find('\n', i) : sql.find("*/", i + 2);
      end = end == std::string_view::npos ? sql.size() : end + (line_comment ? 0 : 2);
      out.append(sql.substr(i, end - i));
      i = end;
      continue;
    }
    if (c == '?') {
      if (next >= params.size())
        throw std::invalid_argument("mariadb: more '?' than parameters (" + std::to_string(params.size()) +
                                    ") in: " + std::string(sql));
      append_value(m, out, params[next++]);
    } else {
      out += c;
    }
    ++i;
  }
  if (next != params.size())
    throw std::invalid_argument("mariadb: " + std::to_string(params.size()) + " parameters for " +
                                std::to_string(next) + " '?' in: " + std::string(sql));
  return out;
}

// --- faults -----------------------------------------------------------------------------------

// The faults a statement offers on MariaDB: the shared set (racelab/db/statement.hpp), less what
// MariaDB cannot produce there. A COMMIT never fails for serialization on InnoDB, and SET (the
// isolation level before BEGIN) can only lose its connection.
FaultSet offered(std::string_view sql, std::string_view name) {
  const FaultSet shared = db::statement_faults(sql);
  if (name == "sql.set") return shared & FaultSet{Fault::lost_before};
  if (name == "sql.commit") return shared.without(Fault::serialization);
  return shared;
}

std::string quoted_literal(MYSQL* m, std::string_view text) {
  std::string out;
  append_value(m, out, Connection::Param{std::string(text), true});
  return out;
}

// The statement the server runs in place of the real one for an injected fault: MariaDB's own
// error number, SQLSTATE and message, raised by SIGNAL.
std::string raised_by_server(MYSQL* m, Fault fault) {
  const char* state = "";
  const char* message = "";
  unsigned code = 0;
  switch (fault) {
    case Fault::timeout:
      code = ER_STATEMENT_TIMEOUT, state = "70100",
      message = "Query execution was interrupted (max_statement_time exceeded)";
      break;
    case Fault::deadlock:
      code = ER_LOCK_DEADLOCK, state = "40001",
      message = "Deadlock found when trying to get lock; try restarting transaction";
      break;
    case Fault::serialization:
      code = ER_CHECKREAD, state = "HY000",
      message = "Record has changed since last read; try restarting transaction";
      break;
    case Fault::busy:
      code = ER_LOCK_WAIT_TIMEOUT, state = "HY000",
      message = "Lock wait timeout exceeded; try restarting transaction";
      break;
    default: return {};
  }
  return std::string("SIGNAL SQLSTATE '") + state + "' SET MYSQL_ERRNO = " + std::to_string(code) +
         ", MESSAGE_TEXT = " + quoted_literal(m, message);
}

}  // namespace

// --- Result -------------------------------------------------------------------------------------

int Result::rows() const { return static_cast<int>(data_->rows.size()); }
int Result::columns() const { return data_->columns; }

std::string Result::column_name(int column) const {
  if (data_->res == nullptr || column < 0 || column >= data_->columns) return "";
  const MYSQL_FIELD* field = mysql_fetch_field_direct(data_->res, static_cast<unsigned>(column));
  return field != nullptr && field->name != nullptr ? field->name : "";
}
bool Result::is_null(int row, int column) const { return data_->rows.at(row)[column] == nullptr; }
std::string Result::text(int row, int column) const {
  const char* value = data_->rows.at(row)[column];
  if (value == nullptr) return "";
  return std::string(value, data_->lengths.at(static_cast<std::size_t>(row) * data_->columns + column));
}
std::int64_t Result::int64(int row, int column) const {
  const char* value = data_->rows.at(row)[column];
  return value != nullptr ? std::strtoll(value, nullptr, 10) : 0;
}
std::int64_t Result::affected() const { return data_->affected; }

// --- Connection ---------------------------------------------------------------------------------

Connection Connection::open(const std::string& url) {
  Url u = parse_url(url);
  MYSQL* m = mysql_init(nullptr);
  if (m == nullptr) throw std::bad_alloc();
  unsigned int connect_timeout_s = 10;
  mysql_options(m, MYSQL_OPT_NONBLOCK, nullptr);  // the …_start / …_cont calls, for simulated tasks
  mysql_options(m, MYSQL_SET_CHARSET_NAME, "utf8mb4");
  mysql_options(m, MYSQL_OPT_CONNECT_TIMEOUT, &connect_timeout_s);
  const unsigned long flags = CLIENT_FOUND_ROWS;  // affected rows = rows matched, as in PostgreSQL
  const char* socket = u.socket.empty() ? nullptr : u.socket.c_str();
  MYSQL* ok = nullptr;
  if (!racelab::this_thread::simulated()) {
    ok = mysql_real_connect(m, u.host.c_str(), u.user.c_str(), u.password.c_str(), u.database.c_str(), u.port,
                            socket, flags);
  } else {
    // On a simulated task the connect is awaited in real time (bounded by the connect timeout):
    // no other task can hold it up, and the run must not depend on how fast it is.
    const Cont cont = [m, &ok](int ready) { return mysql_real_connect_cont(&ok, m, ready); };
    finish_bounded(m, u,
                   mysql_real_connect_start(&ok, m, u.host.c_str(), u.user.c_str(), u.password.c_str(),
                                            u.database.c_str(), u.port, socket, flags),
                   cont, false);
  }
  if (ok == nullptr) {
    const unsigned code = mysql_errno(m);
    const std::string sqlstate = mysql_sqlstate(m);
    std::string message = "mariadb: cannot connect to mariadb://" + u.user + "@" + u.host + ":" +
                          std::to_string(u.port) + "/" + u.database + ": " + mysql_error(m) + " (error " +
                          std::to_string(code) + ")";
    mysql_close(m);
    throw Error(code, sqlstate, message);
  }
  return Connection(m, std::move(u));
}

Connection::Connection(Connection&& other) noexcept
    : conn_(std::exchange(other.conn_, nullptr)),
      probe_(std::exchange(other.probe_, nullptr)),
      url_(std::move(other.url_)) {}

Connection& Connection::operator=(Connection&& other) noexcept {
  if (this != &other) {
    if (conn_ != nullptr) mysql_close(conn_);
    if (probe_ != nullptr) mysql_close(probe_);
    conn_ = std::exchange(other.conn_, nullptr);
    probe_ = std::exchange(other.probe_, nullptr);
    url_ = std::move(other.url_);
  }
  return *this;
}

Connection::~Connection() {
  if (conn_ != nullptr) mysql_close(conn_);
  if (probe_ != nullptr) mysql_close(probe_);
}

unsigned long Connection::thread_id() const { return mysql_thread_id(conn_); }

Result Connection::exec_list(std::string_view sql, const std::vector<std::optional<std::string>>& params,
                             std::string_view point) {
  std::vector<Param> bound;
  bound.reserve(params.size());
  for (const auto& p : params) bound.push_back({p, true});
  return exec_params(sql, point, bound);
}

Result Connection::exec_params(std::string_view sql, std::string_view point,
                               const std::vector<Param>& params) {
  const std::string name = point.empty() ? db::statement_point_name(sql) : std::string(point);
  std::string text = bind(conn_, sql, params);  // a misuse is reported before the point
  const Point at(name);
  const std::optional<Fault> fault = at.hit_or_fault(offered(sql, name));
  std::string suffix;
  if (fault)
    suffix = " (racelab fault " + std::string(to_string(*fault)) + " at " + std::string(at.name()) + ")";
  if (fault == Fault::lost_before) lose(conn_);
  waited_ = false;
  Wire wire{conn_, url_, probe_, waited_};
  if (fault == Fault::deadlock || fault == Fault::serialization)
    run(wire, "ROLLBACK", sql, suffix);  // InnoDB rolls the victim's transaction back
  if (fault && fault != Fault::lost_before && fault != Fault::lost_after_commit)
    text = raised_by_server(conn_, *fault);
  auto data = run(wire, text, sql, suffix);
  if (fault == Fault::lost_after_commit) {
    lose(conn_);
    throw ConnectionLost(kServerLost, "HY000",
                         "mariadb: " + std::string(sql) + ": Lost connection to server during query" +
                             suffix + " (error 2013, SQLSTATE HY000)");
  }
  return Result(std::move(data));
}

void Connection::run_script(std::string_view sql) {
  const std::string_view shown = sql.substr(0, 60);
  if (mysql_set_server_option(conn_, MYSQL_OPTION_MULTI_STATEMENTS_ON) != 0) raise_last(conn_, shown);
  struct MultiOff {
    MYSQL* m;
    ~MultiOff() { static_cast<void>(mysql_set_server_option(m, MYSQL_OPTION_MULTI_STATEMENTS_OFF)); }
  };
  std::string text(sql);
  {
    MultiOff off{conn_};
    int status = mysql_real_query(conn_, text.data(), text.size());
    while (status == 0) {
      if (MYSQL_RES* res = mysql_store_result(conn_))
        mysql_free_result(res);
      else if (mysql_field_count(conn_) != 0)
        break;                            // an error, reported below
      status = mysql_next_result(conn_);  // -1: no more; > 0: an error
    }
    if (status > 0 || mysql_errno(conn_) != 0) {
      // A failed statement ends the script: the rest are not run. Read the error before MultiOff.
      const unsigned code = mysql_errno(conn_);
      const std::string sqlstate = mysql_sqlstate(conn_);
      const std::string message = "mariadb: " + std::string(shown) + ": " + mysql_error(conn_) + " (error " +
                                  std::to_string(code) + ", SQLSTATE " + sqlstate + ")";
      while (mysql_more_results(conn_) && mysql_next_result(conn_) == 0) {
        if (MYSQL_RES* res = mysql_store_result(conn_)) mysql_free_result(res);
      }
      raise(code, sqlstate, message);
    }
  }
}

// --- Transaction --------------------------------------------------------------------------------

Transaction::Transaction(Connection& db, Isolation isolation) : db_(db) {
  switch (isolation) {
    case Isolation::read_uncommitted: db_.exec("SET TRANSACTION ISOLATION LEVEL READ UNCOMMITTED"); break;
    case Isolation::read_committed: db_.exec("SET TRANSACTION ISOLATION LEVEL READ COMMITTED"); break;
    case Isolation::repeatable_read: db_.exec("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"); break;
    case Isolation::serializable: db_.exec("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE"); break;
  }
  db_.exec("BEGIN");
}

Transaction::~Transaction() {
  if (done_) return;
  // A destructor: no injected crash or unwind signal may be thrown into it, so the ROLLBACK is
  // really sent (also while a crashed or abandoned task unwinds).
  NoThrowScope in_destructor;
  try {
    db_.exec("ROLLBACK");
  } catch (...) {  // a broken connection: the server rolls back when it sees the client gone
  }
}

// Done once COMMIT succeeded: if it throws (an injected crash before it was sent, a failure) the
// destructor still rolls back, as the server would for a connection that died.
void Transaction::commit() {
  db_.exec("COMMIT");
  done_ = true;
}

}  // namespace racelab::mariadb
