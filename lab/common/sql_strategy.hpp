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

// " FOR UPDATE" / " FOR UPDATE NOWAIT" on PostgreSQL; "" on SQLite, where BEGIN IMMEDIATE locks.
inline const char* row_lock(const Db& db, Strategy s) {
  if (db.backend() != Backend::postgres) return "";
  return s == Strategy::nowait ? " FOR UPDATE NOWAIT" : " FOR UPDATE";
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
