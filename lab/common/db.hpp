// lab/common/db.hpp — one small SQL interface over SQLite, PostgreSQL and MariaDB, so each scenario
// writes its logic once and says only where the backends differ (FOR UPDATE, BEGIN IMMEDIATE,
// NOWAIT, key types, RETURNING).
//
//   auto db = lab::open_db("sqlite:/tmp/bank.db");   // or sqlite:memdb:NAME, a PostgreSQL conninfo/URL,
//                                                    // or mariadb://racelab@127.0.0.1:3306/racelab
//   db->begin(lab::TxMode::write);
//   auto n = db->query_int64("SELECT balance FROM accounts WHERE id = ?", {"alice"});
//   db->commit();
//
// SQL uses `?` placeholders for both backends. Backend errors become five lab errors, so
// strategies can react the same way everywhere: DbBusy (the row or database is locked and we were
// told not to wait), DbConflict (a serialization failure or deadlock: retry the transaction),
// DbConstraint (a CHECK or UNIQUE refused the write), DbLost (the connection went: the outcome is
// unknown) and DbTimeout (a statement timeout).
#pragma once

#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace lab {

using DbParam = std::variant<std::int64_t, std::string>;

enum class Backend { sqlite, postgres, mariadb };
std::string_view to_string(Backend backend);

// MariaDB runs read and write at REPEATABLE READ, InnoDB's default (see MariaDb in db.cpp): locking
// reads and writes see the newest committed rows there, which is all the strategies rely on.
enum class TxMode {
  read,   // a plain BEGIN (deferred on SQLite, READ COMMITTED on PostgreSQL, REPEATABLE READ on MariaDB)
  write,  // SQLite: BEGIN IMMEDIATE (take the write lock now); PostgreSQL, MariaDB: BEGIN
  serializable,  // SQLite: BEGIN (SQLite is serializable); PostgreSQL, MariaDB: SERIALIZABLE
};

class DbBusy : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};
class DbConflict : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};
class DbConstraint : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};
// The connection was lost (racelab::Fault::lost_before / lost_after_commit, or a real network
// failure): whether the statement — a COMMIT — took effect is unknown to the caller. The Db is usable
// again (PostgreSQL reconnects on next use); an open transaction is gone.
class DbLost : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};
// The statement ran past its timeout and was cancelled (PostgreSQL 57014, MariaDB 1969,
// SQLITE_INTERRUPT).
class DbTimeout : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class Db {
 public:
  virtual ~Db() = default;
  virtual Backend backend() const = 0;
  virtual void script(std::string_view sql) = 0;  // several statements, no parameters
  virtual std::optional<std::int64_t> query_int64(std::string_view sql,
                                                  std::initializer_list<DbParam> params) = 0;
  virtual std::int64_t run(std::string_view sql, std::initializer_list<DbParam> params) = 0;  // rows changed
  // Every row, every column as text (NULL as "").
  virtual std::vector<std::vector<std::string>> query_text(std::string_view sql,
                                                           std::initializer_list<DbParam> params) = 0;
  virtual void begin(TxMode mode) = 0;
  virtual void commit() = 0;
  virtual void rollback() noexcept = 0;
  // How long a statement waits for a lock before DbBusy. Zero: fail at once (NOWAIT).
  virtual void set_lock_timeout(std::chrono::milliseconds timeout) = 0;
};

// "sqlite:PATH" (a file, WAL), "sqlite:memdb:NAME" (shared in-memory, for simulations), a
// PostgreSQL conninfo ("host=… dbname=…") or URL ("postgresql://…"), or a MariaDB URL
// ("mariadb://user[:password]@host[:port]/database"; std::invalid_argument when this racelab was
// built without MariaDB Connector/C).
std::unique_ptr<Db> open_db(const std::string& url);

// Whether open_db takes mariadb:// URLs (racelab::mariadb was built).
bool has_mariadb();

// The type of a text column that is (part of) a key: TEXT, but VARCHAR on MariaDB, where a key on
// TEXT needs a prefix length.
inline const char* key_text(const Db& db) {
  return db.backend() == Backend::mariadb ? "VARCHAR(64)" : "TEXT";
}

// Rolls back unless committed.
class Tx {
 public:
  Tx(Db& db, TxMode mode) : db_(db) { db_.begin(mode); }
  ~Tx() {
    if (!done_) db_.rollback();
  }
  Tx(const Tx&) = delete;
  Tx& operator=(const Tx&) = delete;
  // Done once COMMIT succeeded; if it throws (a conflict, an injected crash before it ran) the
  // destructor still rolls back, as a server does for a connection that dies mid-transaction.
  void commit() {
    db_.commit();
    done_ = true;
  }

 private:
  Db& db_;
  bool done_ = false;
};

// Waits before retry `attempt`: up to 1, 2, 4 … 32 ms, at random on real threads (so colliding
// retries spread out), exactly that long in virtual time in a simulation.
void backoff(int attempt);

// Runs `fn` (one transaction) again on DbConflict, up to `attempts` times, backing off between
// tries with racelab::this_thread::sleep_for (virtual time in a simulation). Throws the last
// DbConflict when every attempt conflicted.
template <class Fn>
auto with_retries(int attempts, Fn fn) {
  for (int attempt = 1;; ++attempt) {
    try {
      return fn();
    } catch (const DbConflict&) {
      if (attempt >= attempts) throw;
      backoff(attempt);
    }
  }
}

}  // namespace lab
