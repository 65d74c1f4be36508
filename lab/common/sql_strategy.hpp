// lab/common/sql_strategy.hpp — the pieces every SQL scenario's strategies share: the in-process
// lock of `mutex`, the lock clause and transaction mode of `pessimistic` / `nowait` per backend,
// and a scope that makes `nowait` fail at once instead of waiting for a lock.
#pragma once

#include <racelab/sim/sync.hpp>

#include <chrono>

#include "common/db.hpp"
#include "common/strategy.hpp"

namespace lab {

// One per process and name: the `mutex` strategy's whole protection.
racelab::mutex& process_lock(const char* name);

// " FOR UPDATE" / " FOR UPDATE NOWAIT" on PostgreSQL and MariaDB; "" on SQLite, where BEGIN
// IMMEDIATE locks. (PostgreSQL's weaker FOR NO KEY UPDATE would do for rows whose key stays, but
// MariaDB has no such lock: FOR UPDATE is the one clause both share.)
inline const char* row_lock(const Db& db, Strategy s) {
  if (db.backend() == Backend::sqlite) return "";
  return s == Strategy::nowait ? " FOR UPDATE NOWAIT" : " FOR UPDATE";
}

// A shared row lock: others may take it too (and read), nobody may change or delete the row until
// its holders commit. " FOR SHARE" on PostgreSQL; " LOCK IN SHARE MODE" on MariaDB (10.11 refuses
// FOR SHARE, MySQL 8's spelling); "" on SQLite, where BEGIN IMMEDIATE takes the database's one
// write lock instead (stronger: sharers then wait for each other).
inline const char* share_lock(const Db& db, Strategy s) {
  const bool nowait = s == Strategy::nowait;
  switch (db.backend()) {
    case Backend::sqlite: return "";
    case Backend::postgres: return nowait ? " FOR SHARE NOWAIT" : " FOR SHARE";
    case Backend::mariadb: return nowait ? " LOCK IN SHARE MODE NOWAIT" : " LOCK IN SHARE MODE";
  }
  return "";
}

// While alive, lock waits fail at once (DbBusy): the `nowait` strategy.
class NoWait {
 public:
  NoWait(Db& db, bool on) : db_(db), on_(on) {
    if (on_) db_.set_lock_timeout(std::chrono::milliseconds(0));
  }
  ~NoWait() {
    if (on_) db_.set_lock_timeout(std::chrono::milliseconds(5000));
  }
  NoWait(const NoWait&) = delete;
  NoWait& operator=(const NoWait&) = delete;

 private:
  Db& db_;
  bool on_;
};

// Retries `fn` on DbBusy (the caller of a `nowait` operation deciding to come back later), bounded.
template <class Fn>
auto retry_busy(int attempts, Fn fn) {
  for (int attempt = 1;; ++attempt) {
    try {
      return fn();
    } catch (const DbBusy&) {
      if (attempt >= attempts) throw;
      backoff(attempt);
    }
  }
}

}  // namespace lab
