// lab/common/recorded.hpp — one attempt of a scenario's operation, recorded as a transaction of a
// racelab::History, so the history checker can judge a strategy with no invariant written for it.
//
// An attempt that ends without commit() (an exception, a failed compare-and-set) is recorded as
// aborted; with no History every call does nothing.
//
//   lab::Recorded op(history, "increment");
//   op.read("counters", "1", n, "SELECT n FROM counters WHERE id = 1");
//   op.write("counters", "1", n + 1, "UPDATE counters SET n = ? WHERE id = 1");
//   op.commit();
#pragma once

#include <racelab/history.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace lab {

class Recorded {
 public:
  explicit Recorded(racelab::History* history, std::string name = {}) : history_(history) {
    if (history_) txn_ = history_->begin(std::move(name));
  }
  ~Recorded() {
    if (history_ && !ended_) history_->abort(txn_);
  }
  Recorded(const Recorded&) = delete;
  Recorded& operator=(const Recorded&) = delete;

  void read(std::string_view table, std::string_view key, std::int64_t value, std::string_view statement) {
    if (history_) history_->read(txn_, table, key, std::to_string(value), statement);
  }
  void write(std::string_view table, std::string_view key, std::int64_t value, std::string_view statement) {
    if (history_) history_->write(txn_, table, key, std::to_string(value), statement);
  }
  void write(std::string_view table, std::string_view key, std::string_view value,
             std::string_view statement) {
    if (history_) history_->write(txn_, table, key, std::string(value), statement);
  }
  void read_where(std::string_view table, std::string predicate, racelab::History::Matches matches,
                  std::vector<racelab::History::Row> rows, std::string_view statement) {
    if (history_)
      history_->read_where(txn_, table, std::move(predicate), std::move(matches), std::move(rows), statement);
  }
  void commit() {
    if (history_ && !ended_) history_->commit(txn_);
    ended_ = true;
  }

 private:
  racelab::History* history_;
  racelab::History::Txn txn_ = 0;
  bool ended_ = false;
};

}  // namespace lab
