// lab/counter/sql_counter.hpp — Incrmnt on SQLite, PostgreSQL or MariaDB, with every strategy that applies.
//
//   unsafe        read n; write n + 1                      (the lost update)
//   mutex         the same under an in-process lock
//   pessimistic   SELECT … FOR UPDATE / BEGIN IMMEDIATE, then write
//   nowait        the same, failing at once with DbBusy when locked
//   optimistic    UPDATE … SET n = ?, version = version + 1 WHERE version = ?; retry on 0 rows
//   atomic        UPDATE counters SET n = n + 1 (RETURNING n; MariaDB: LAST_INSERT_ID(n + 1))
//   serializable  read and write in a SERIALIZABLE transaction; retry on conflict
//   constraint    does not apply: no CHECK or UNIQUE can say "no increment was lost"
//
//   lab::counter::SqlCounter c(*db);
//   lab::counter::SqlCounter::reset(*db);
//   c.increment(lab::Strategy::atomic);
//
// Given a racelab::History, each attempt of an increment is recorded as a transaction (the value
// of counter 1 read and written), so racelab::check() judges a strategy without an invariant.
#pragma once

#include <racelab/sim/sync.hpp>

#include <cstdint>
#include <string>

#include "common/db.hpp"
#include "common/recorded.hpp"
#include "common/strategy.hpp"

namespace lab::counter {

class SqlCounter {
 public:
  // `name` names this counter's transactions in the history (the task's name reads best).
  explicit SqlCounter(Db& db, racelab::History* history = nullptr, std::string name = {})
      : db_(db), history_(history), name_(std::move(name)) {}
  static void reset(Db& db);
  std::int64_t increment(Strategy strategy);  // the new value; throws DbBusy (nowait), DbConflict
  std::int64_t value();

 private:
  std::int64_t read_write(TxMode mode, bool lock, Strategy strategy);
  std::int64_t read_then_write(racelab::mutex* lock);
  std::int64_t atomic_increment();
  Db& db_;
  racelab::History* history_;
  std::string name_;
};

}  // namespace lab::counter
