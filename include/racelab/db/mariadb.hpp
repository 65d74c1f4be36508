// racelab/db/mariadb.hpp — a small MariaDB Connector/C layer whose statements take part in
// racelab's search: the contract of racelab/db/postgres.hpp, for MariaDB (and InnoDB).
//
// Connection (opened from a `mariadb://user[:password]@host[:port]/database` URL), statements with
// `?` placeholders, Result, Transaction with an isolation level, and errors typed by MariaDB's
// error number: DeadlockDetected 1213, LockNotAvailable 1205 (a lock wait past
// innodb_lock_wait_timeout, and also what MariaDB 10.11 answers for `FOR UPDATE NOWAIT`),
// SerializationFailure 1020 (REPEATABLE READ with innodb_snapshot_isolation=ON), UniqueViolation
// 1062, CheckViolation 4025, QueryCanceled 1969 / 1317 (max_statement_time, KILL QUERY), and
// ConnectionLost (2006, 2013: the server went away). Every statement is a racelab point named like
// `sql.update.accounts`. Inside a simulation a statement is sent with Connector/C's non-blocking
// API and awaited in real time (no other task runs meanwhile, so the run does not depend on how
// fast the server is) until it is answered or the server confirms it waits for a row lock (SHOW
// ENGINE INNODB STATUS lists its transaction in LOCK WAIT, asked from a second connection of the
// same user, which needs the PROCESS privilege). Then its task parks at `sql.wait` and the others
// run: a `SELECT … FOR UPDATE` blocked behind another task's row lock lets that task run and
// commit; a statement that may have released locks (one ending a transaction, or failing) wakes
// the parked tasks to look again. Runs are therefore repeatable, and a DFS over them is a proof
// within its bound.
//
//   auto db = racelab::mariadb::Connection::open("mariadb://racelab@127.0.0.1:3306/racelab");
//   racelab::mariadb::Transaction tx(db);                        // REPEATABLE READ, InnoDB's default
//   auto balance = db.query_int64("SELECT balance FROM accounts WHERE id = ? FOR UPDATE", "alice");
//   db.exec("UPDATE accounts SET balance = balance - ? WHERE id = ?", 800, "alice");
//   tx.commit();
//
// Parameters are bound on the client: each `?` (outside quotes, identifiers and comments) becomes
// the value quoted by mysql_real_escape_string for the connection's character set (utf8mb4), an
// integer as a number, nullptr as NULL. One round trip per statement, as libpq's PQexecParams, and
// values come back as text as from libpq; server-side prepared statements would cost a second
// round trip (or a statement cache) and typed result buffers for no gain in safety here.
//
// Each statement's point offers faults (racelab/fault.hpp, docs/faults.md), produced as MariaDB
// produces them: `lost_before` shuts the socket before the statement is sent (Connector/C then
// finds the server gone: ConnectionLost), `lost_after_commit` after COMMIT's reply arrived
// (ConnectionLost; the COMMIT took effect); `timeout` and `busy` are raised by the server in place
// of the statement (SIGNAL with errno 1969, 1205: only the statement fails, as in MariaDB), and
// `deadlock` and `serialization` roll the transaction back on the server, then raise 1213 / 1020,
// as InnoDB does for a real deadlock victim or a changed record. COMMIT offers no serialization
// fault: MariaDB never fails a COMMIT for one.
//
// Affected rows count the rows a statement matched (CLIENT_FOUND_ROWS), as PostgreSQL counts them:
// a compare-and-set UPDATE that writes the value a row already has still reports 1.
//
// A Connection belongs to one thread (or one simulated task) at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

struct st_mysql;

namespace racelab::mariadb {

class Error : public std::runtime_error {
 public:
  Error(unsigned code, std::string sqlstate, const std::string& message)
      : std::runtime_error(message), code_(code), sqlstate_(std::move(sqlstate)) {}
  unsigned code() const { return code_; }  // MariaDB's error number (1213, 2013, …)
  const std::string& sqlstate() const { return sqlstate_; }

 private:
  unsigned code_;
  std::string sqlstate_;
};
class SerializationFailure : public Error {  // 1020: the record changed since it was read; retry
 public:
  using Error::Error;
};
class DeadlockDetected : public Error {  // 1213: the transaction was rolled back; retry it
 public:
  using Error::Error;
};
class LockNotAvailable : public Error {  // 1205 (and MySQL's 3572): NOWAIT, or the lock wait timed out
 public:
  using Error::Error;
};
class UniqueViolation : public Error {  // 1062, 1586
 public:
  using Error::Error;
};
class CheckViolation : public Error {  // 4025
 public:
  using Error::Error;
};
class QueryCanceled : public Error {  // 1969 max_statement_time, 1317 KILL QUERY
 public:
  using Error::Error;
};
// The connection broke (2006, 2013, 2055): whether the last statement took effect is unknown. The
// Connection is unusable from then on; open another.
class ConnectionLost : public Error {
 public:
  using Error::Error;
};

// The parts of a `mariadb://user[:password]@host[:port]/database[?socket=PATH]` URL. User and
// password may be percent-encoded. Host `localhost` means the unix socket (Connector/C's rule):
// give `socket=PATH` for a server not at the default one, or 127.0.0.1 for TCP.
struct Url {
  std::string user, password, host;
  unsigned port = 3306;
  std::string database, socket;
};
// Throws std::invalid_argument naming what is wrong and the expected form.
Url parse_url(std::string_view url);

class Result {
 public:
  int rows() const;
  int columns() const;
  std::string column_name(int column) const;  // as the query names it (AS …)
  bool is_null(int row, int column) const;
  std::string text(int row, int column) const;
  std::int64_t int64(int row, int column) const;  // 0 for NULL
  std::int64_t affected() const;                  // rows matched by INSERT / UPDATE / DELETE

  struct Data;  // the rows Connector/C returned; opaque, defined in mariadb.cpp

 private:
  friend class Connection;
  explicit Result(std::shared_ptr<const Data> data) : data_(std::move(data)) {}
  std::shared_ptr<const Data> data_;
};

class Connection {
 public:
  // A bound value: SQL text ready to stand in for one `?` (an escaped, quoted string; a number;
  // NULL). Made by Connection from the arguments.
  struct Param {
    std::optional<std::string> value;
    bool quoted = true;
  };

  // Throws std::invalid_argument for a malformed URL, Error (2002, 2003, 1045, …) when the server
  // cannot be reached or refuses the login.
  static Connection open(const std::string& url);
  Connection(Connection&&) noexcept;
  Connection& operator=(Connection&&) noexcept;
  ~Connection();

  // Runs one statement with each `?` bound to the next of `args` (integers, strings, nullptr).
  // A count of `?` that differs from the arguments throws std::invalid_argument.
  template <class... Args>
  Result exec(std::string_view sql, const Args&... args) {
    return exec_params(sql, {}, {param(args)...});
  }
  // The same, with the statement's point named explicitly.
  template <class... Args>
  Result exec_named(std::string_view point, std::string_view sql, const Args&... args) {
    return exec_params(sql, point, {param(args)...});
  }
  // The same with a parameter list made at run time (strings, quoted; nullopt is NULL); an empty
  // `point` names it from the SQL.
  Result exec_list(std::string_view sql, const std::vector<std::optional<std::string>>& params,
                   std::string_view point = {});
  template <class... Args>
  std::optional<std::int64_t> query_int64(std::string_view sql, const Args&... args) {
    auto r = exec(sql, args...);
    if (r.rows() == 0 || r.is_null(0, 0)) return std::nullopt;
    return r.int64(0, 0);
  }
  // Runs several statements separated by ';' (no parameters, no point): schemas, resets.
  void run_script(std::string_view sql);

  // The server's id for this connection (CONNECTION_ID()), what KILL names.
  unsigned long thread_id() const;
  st_mysql* handle() const { return conn_; }
  // Whether the last statement waited for a row lock another task held (parked at `sql.wait`).
  bool waited_for_lock() const { return waited_; }

 private:
  Connection(st_mysql* conn, Url url) : conn_(conn), url_(std::move(url)) {}
  static Param param(std::nullptr_t) { return {std::nullopt, false}; }
  static Param param(std::string_view s) { return {std::string(s), true}; }
  static Param param(const char* s) { return {std::string(s), true}; }
  static Param param(const std::string& s) { return {s, true}; }
  template <class T, class = std::enable_if_t<std::is_integral_v<T>>>
  static Param param(T v) {
    if constexpr (std::is_same_v<T, bool>) return {std::string(v ? "1" : "0"), false};
    return {std::to_string(v), false};
  }
  Result exec_params(std::string_view sql, std::string_view point, const std::vector<Param>& params);
  st_mysql* conn_ = nullptr;
  st_mysql* probe_ = nullptr;  // asks the server whether a simulated task's statement waits for a lock
  Url url_;                    // where to send a KILL QUERY from a second connection (teardown)
  bool waited_ = false;        // the last statement parked for a row lock
};

// MariaDB's four levels; REPEATABLE READ is InnoDB's default.
enum class Isolation { read_uncommitted, read_committed, repeatable_read, serializable };

// SET TRANSACTION ISOLATION LEVEL …, then BEGIN; rolls back unless committed.
class Transaction {
 public:
  explicit Transaction(Connection& db, Isolation isolation = Isolation::repeatable_read);
  ~Transaction();
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  void commit();

 private:
  Connection& db_;
  bool done_ = false;
};

}  // namespace racelab::mariadb
