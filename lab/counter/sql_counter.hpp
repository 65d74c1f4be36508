// lab/counter/sql_counter.hpp — Incrmnt on SQLite or PostgreSQL, with every strategy that applies.
//
//   unsafe        read n; write n + 1                      (the lost update)
//   mutex         the same under an in-process lock
//   pessimistic   SELECT … FOR UPDATE / BEGIN IMMEDIATE, then write
//   nowait        the same, failing at once with DbBusy when locked
//   optimistic    UPDATE … SET n = ?, version = version + 1 WHERE version = ?; retry on 0 rows
//   atomic        UPDATE counters SET n = n + 1
//   serializable  read and write in a SERIALIZABLE transaction; retry on conflict
//   constraint    does not apply: no CHECK or UNIQUE can say "no increment was lost"
//
//   lab::counter::SqlCounter c(*db);
//   lab::counter::SqlCounter::reset(*db);
//   c.increment(lab::Strategy::atomic);
#pragma once

#include <cstdint>

#include "common/db.hpp"
#include "common/strategy.hpp"

namespace lab::counter {

class SqlCounter {
 public:
  explicit SqlCounter(Db& db) : db_(db) {}
  static void reset(Db& db);
  std::int64_t increment(Strategy strategy);  // the new value; throws DbBusy (nowait), DbConflict
  std::int64_t value();

 private:
  std::int64_t read_write(TxMode mode, bool lock, Strategy strategy);
  Db& db_;
};

}  // namespace lab::counter
