#include "oncall/oncall.hpp"

#include <racelab/point.hpp>

#include <algorithm>

#include "common/sql_strategy.hpp"

namespace lab::oncall {
namespace {

constexpr const char* kOnCall = "SELECT name FROM doctors WHERE on_call = 1 ORDER BY name";
constexpr const char* kTakeOff = "UPDATE doctors SET on_call = 0 WHERE name = ?";

bool on_call_row(std::string_view, std::string_view value) { return value == "1"; }

// The predicate read a decision rests on: every doctor it found on call.
void record_on_call(Recorded& op, racelab::History* history, const std::vector<std::string>& seen) {
  if (!history) return;
  std::vector<racelab::History::Row> rows;
  for (const auto& name : seen) rows.emplace_back(name, "1");
  op.read_where("doctors", "on_call = 1", on_call_row, std::move(rows), kOnCall);
}

}  // namespace

void Shift::reset(Db& db, const std::vector<std::string>& doctors) {
  db.script(std::string("DROP TABLE IF EXISTS doctors; DROP TABLE IF EXISTS shifts;"
                        "CREATE TABLE doctors(name ") +
            key_text(db) +
            " PRIMARY KEY, on_call INTEGER NOT NULL);"
            "CREATE TABLE shifts(id INTEGER PRIMARY KEY, version BIGINT NOT NULL);"
            "INSERT INTO shifts VALUES (1, 0);");
  for (const auto& d : doctors) db.run("INSERT INTO doctors VALUES (?, 1)", {d});
}

void Shift::refill(Db& db) {
  db.run("UPDATE doctors SET on_call = 1", {});
  db.run("UPDATE shifts SET version = 0", {});
}

std::vector<std::string> Shift::on_call() {
  std::vector<std::string> names;
  for (auto& row : db_.query_text(kOnCall, {})) names.push_back(row.at(0));
  return names;
}

// Decide on `seen` and, if someone else is on call, write the doctor's row.
void Shift::take_off(Recorded& op, const std::string& doctor, const std::vector<std::string>& seen) {
  record_on_call(op, history_, seen);
  if (std::count_if(seen.begin(), seen.end(), [&](const auto& d) { return d != doctor; }) == 0) {
    op.commit();  // a read-only transaction: it decided on what it saw
    throw OnlyOneOnCall(doctor);
  }
  db_.run(kTakeOff, {doctor});
  op.write("doctors", doctor, "0", kTakeOff);
}

void Shift::in_transaction(const std::string& doctor, TxMode mode, Strategy strategy) {
  NoWait nowait(db_, strategy == Strategy::nowait);
  Recorded op(history_, name_);
  Tx tx(db_, mode);
  const bool lock = strategy == Strategy::pessimistic || strategy == Strategy::nowait;
  std::vector<std::string> seen;
  for (auto& row : db_.query_text(std::string(kOnCall) + (lock ? row_lock(db_, strategy) : ""), {}))
    seen.push_back(row.at(0));
  take_off(op, doctor, seen);
  tx.commit();
  op.commit();
}

// One compare-and-set attempt; false when the shift's version moved (nothing was written).
bool Shift::optimistic_attempt(const std::string& doctor) {
  Recorded op(history_, name_);
  // The version first: doctors read after it are at least as new, so a stale pair fails the CAS.
  auto version = db_.query_int64("SELECT version FROM shifts WHERE id = 1", {}).value();
  op.read("shifts", "1", version, "SELECT version FROM shifts WHERE id = 1");
  auto now = on_call();
  Tx tx(db_, TxMode::read);
  take_off(op, doctor, now);
  if (db_.run("UPDATE shifts SET version = version + 1 WHERE id = 1 AND version = ?", {version}) != 1)
    return false;
  op.write("shifts", "1", version + 1,
           "UPDATE shifts SET version = version + 1 WHERE id = 1 AND version = ?");
  tx.commit();
  op.commit();
  return true;
}

void Shift::go_off_call(const std::string& doctor, Strategy strategy) {
  const auto seen = on_call();  // outside any lock
  RACELAB_POINT("oncall.after_count");
  switch (strategy) {
    case Strategy::unsafe: {
      Recorded op(history_, name_);
      take_off(op, doctor, seen);
      op.commit();
      return;
    }
    case Strategy::mutex: {
      std::lock_guard held(process_lock("oncall"));
      Recorded op(history_, name_);
      take_off(op, doctor, on_call());
      op.commit();
      return;
    }
    case Strategy::pessimistic:
    case Strategy::nowait: return in_transaction(doctor, TxMode::write, strategy);
    case Strategy::serializable:
      return with_retries(20, [&] { in_transaction(doctor, TxMode::serializable, strategy); });
    case Strategy::optimistic:
      for (int attempt = 1;; ++attempt) {
        if (optimistic_attempt(doctor)) return;
        if (attempt >= 50) throw DbConflict("optimistic shift change: gave up after 50 attempts");
        backoff(attempt);
      }
    case Strategy::atomic:
    case Strategy::constraint: break;
  }
  throw StrategyNotApplicable(strategy,
                              "on-call doctors (write skew: no single statement or constraint re-checks "
                              "the other rows)");
}

}  // namespace lab::oncall
