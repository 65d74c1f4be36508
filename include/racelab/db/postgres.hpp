// racelab/db/postgres.hpp — a small libpq layer whose statements take part in racelab's search.
//
// Connection, parameterised statements, Result, Transaction with an isolation level, and errors
// typed by SQLSTATE (SerializationFailure 40001, DeadlockDetected 40P01, LockNotAvailable 55P03,
// UniqueViolation 23505, CheckViolation 23514). Every statement is a racelab point named like
// `sql.update.accounts`. Inside a simulation a statement is sent with libpq's asynchronous API and
// the task waits for its socket: a `SELECT … FOR UPDATE` blocked behind another task's row lock
// lets that task run and commit, and the scheduler polls the server only when no task can run.
//
//   auto pg = racelab::postgres::Connection::open("host=127.0.0.1 port=5432 dbname=racelab");
//   racelab::postgres::Transaction tx(pg);
//   auto balance = pg.query_int64("SELECT balance FROM accounts WHERE id = $1 FOR UPDATE", "alice");
//   pg.exec("UPDATE accounts SET balance = balance - $1 WHERE id = $2", 800, "alice");
//   tx.commit();
//
// Each statement's point offers faults (racelab/fault.hpp, docs/faults.md), produced as the server
// and libpq would: `lost_before` shuts the connection's socket before the statement is sent (libpq
// then reports the lost server: ConnectionLost), `lost_after_commit` after COMMIT's reply arrived
// (ConnectionLost; the COMMIT took effect), and `timeout`, `deadlock`, `serialization`, `busy` are
// raised by the server in place of the statement (57014, 40P01, 40001, 55P03), which aborts the
// transaction as the real error does.
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

struct pg_conn;
struct pg_result;

namespace racelab::postgres {

class Error : public std::runtime_error {
 public:
  Error(std::string sqlstate, const std::string& message)
      : std::runtime_error(message), sqlstate_(std::move(sqlstate)) {}
  const std::string& sqlstate() const { return sqlstate_; }

 private:
  std::string sqlstate_;
};
class SerializationFailure : public Error {  // 40001: retry the transaction
 public:
  using Error::Error;
};
class DeadlockDetected : public Error {  // 40P01: retry the transaction
 public:
  using Error::Error;
};
class LockNotAvailable : public Error {  // 55P03: NOWAIT found the row locked
 public:
  using Error::Error;
};
class UniqueViolation : public Error {  // 23505
 public:
  using Error::Error;
};
class CheckViolation : public Error {  // 23514
 public:
  using Error::Error;
};
class QueryCanceled : public Error {  // 57014: a statement timeout (or a cancel request)
 public:
  using Error::Error;
};
// The connection broke (08xxx, or libpq lost the server): whether the last statement took effect is
// unknown. The Connection is unusable from then on; open another.
class ConnectionLost : public Error {
 public:
  using Error::Error;
};

class Result {
 public:
  int rows() const;
  int columns() const;
  std::string column_name(int column) const;  // as the query names it (AS …)
  bool is_null(int row, int column) const;
  std::string text(int row, int column) const;
  std::int64_t int64(int row, int column) const;
  std::int64_t affected() const;  // rows changed by INSERT / UPDATE / DELETE

 private:
  friend class Connection;
  explicit Result(pg_result* r);
  std::shared_ptr<pg_result> result_;
};

class Connection {
 public:
  static Connection open(const std::string& conninfo);
  Connection(Connection&&) noexcept;
  Connection& operator=(Connection&&) noexcept;
  ~Connection();

  // Runs one statement with $1, $2 … bound to `args` (integers, strings, nullptr).
  template <class... Args>
  Result exec(std::string_view sql, const Args&... args) {
    return exec_params(sql, {}, {param(args)...});
  }
  // The same, with the statement's point named explicitly.
  template <class... Args>
  Result exec_named(std::string_view point, std::string_view sql, const Args&... args) {
    return exec_params(sql, point, {param(args)...});
  }
  // The same with a parameter list made at run time (nullopt is NULL); an empty `point` names it
  // from the SQL.
  Result exec_list(std::string_view sql, const std::vector<std::optional<std::string>>& params,
                   std::string_view point = {}) {
    return exec_params(sql, point, params);
  }
  template <class... Args>
  std::optional<std::int64_t> query_int64(std::string_view sql, const Args&... args) {
    auto r = exec(sql, args...);
    if (r.rows() == 0 || r.is_null(0, 0)) return std::nullopt;
    return r.int64(0, 0);
  }
  // Runs several statements separated by ';' (no parameters): schemas, resets.
  void run_script(std::string_view sql);

  pg_conn* handle() const { return conn_; }

 private:
  explicit Connection(pg_conn* conn) : conn_(conn) {}
  static std::optional<std::string> param(std::nullptr_t) { return std::nullopt; }
  static std::optional<std::string> param(std::string_view s) { return std::string(s); }
  static std::optional<std::string> param(const char* s) { return std::string(s); }
  static std::optional<std::string> param(const std::string& s) { return s; }
  template <class T, class = std::enable_if_t<std::is_integral_v<T>>>
  static std::optional<std::string> param(T v) {
    return std::to_string(v);
  }
  Result exec_params(std::string_view sql, std::string_view point,
                     const std::vector<std::optional<std::string>>& params);
  pg_conn* conn_ = nullptr;
};

enum class Isolation { read_committed, repeatable_read, serializable };

// BEGIN with the isolation level; rolls back unless committed.
class Transaction {
 public:
  explicit Transaction(Connection& db, Isolation isolation = Isolation::read_committed);
  ~Transaction();
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  void commit();

 private:
  Connection& db_;
  bool done_ = false;
};

}  // namespace racelab::postgres
