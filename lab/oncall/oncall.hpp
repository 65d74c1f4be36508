// lab/oncall/oncall.hpp — write skew: doctors on call, at least one must stay on.
//
// Two doctors each check that someone else is on call, then take themselves off. Each reads both
// rows and writes a different one, so no row is written twice and no row lock is ever contended:
// the lost update's fixes that lock or compare the row being written do not see the conflict.
//
//   unsafe        count the doctors on call; if two or more, take yourself off   (both leave)
//   mutex         the same under an in-process lock
//   pessimistic   lock every on-call row (SELECT … FOR UPDATE; SQLite: BEGIN IMMEDIATE), count, update
//   nowait        the same, failing at once with DbBusy when a row is locked
//   optimistic    materialise the conflict: both bump one shift row's version (compare-and-set)
//                 in the transaction that takes the doctor off; retry when it moved
//   serializable  count and update in a SERIALIZABLE transaction; retry on conflict (PostgreSQL's SSI
//                 sees the read-write cycle; MariaDB's SERIALIZABLE share-locks what it read, so the
//                 two updates deadlock and one retries; SQLite serialises writers)
//   atomic        does not apply: no single UPDATE re-checks other rows under concurrency (on
//                 PostgreSQL READ COMMITTED `UPDATE … WHERE (SELECT count(*) …) > 1` still skews)
//   constraint    does not apply: no CHECK or UNIQUE constrains a count over other rows
//
//   lab::oncall::Shift::reset(db, {"alice", "bob"});
//   lab::oncall::Shift(db).go_off_call("alice", lab::Strategy::pessimistic);  // or OnlyOneOnCall
//
// Given a racelab::History, each attempt records the predicate read its decision rests on (the
// doctors on call) and the row it wrote, so racelab::check() names unsafe's write skew (G2).
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "common/db.hpp"
#include "common/recorded.hpp"
#include "common/strategy.hpp"

namespace lab::oncall {

// The refusal: taking this doctor off would leave nobody on call.
class OnlyOneOnCall : public std::runtime_error {
 public:
  explicit OnlyOneOnCall(const std::string& doctor)
      : std::runtime_error(doctor + " is the last doctor on call and must stay") {}
};

class Shift {
 public:
  explicit Shift(Db& db, racelab::History* history = nullptr, std::string name = {})
      : db_(db), history_(history), name_(std::move(name)) {}
  static void reset(Db& db, const std::vector<std::string>& doctors);  // every doctor on call
  static void refill(Db& db);                                          // every doctor back on call
  // Throws OnlyOneOnCall, DbBusy (nowait), DbConflict, StrategyNotApplicable (atomic, constraint).
  void go_off_call(const std::string& doctor, Strategy strategy);
  std::vector<std::string> on_call();

 private:
  void in_transaction(const std::string& doctor, TxMode mode, Strategy strategy);
  bool optimistic_attempt(const std::string& doctor);
  void take_off(Recorded& op, const std::string& doctor, const std::vector<std::string>& seen);
  Db& db_;
  racelab::History* history_;
  std::string name_;
};

}  // namespace lab::oncall
