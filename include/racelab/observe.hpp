// racelab/observe.hpp — observation: which points this thread passed, in order, and when.
//
//   {
//     racelab::PointLog log;                       // records this thread's hits while it lives
//     bank.transfer("alice", "bob", 800, lab::Strategy::unsafe);
//     for (const auto& e : log.entries())          // transfer.after_read, sql.update.accounts, …
//       std::cout << e.point << '\n';
//   }
//
// The raw material of traces (the lab service turns a transfer's log into span events). A log arms
// the points while it lives, so they take their slow path (~35 ns) instead of being free; it records
// hits of the code that made it only — the thread, or the simulated task — and logs nest per thread
// and per task (the innermost one records). A log open around Simulation::run() records the tasks'
// points that no log of the task's own records, in the order the scheduler ran them.
#pragma once

#include <chrono>
#include <string_view>
#include <vector>

namespace racelab {

class PointLog {
 public:
  struct Entry {
    std::string_view point;  // the point's name; valid for the life of the process
    std::chrono::steady_clock::time_point at;
  };

  PointLog();
  ~PointLog();
  PointLog(const PointLog&) = delete;
  PointLog& operator=(const PointLog&) = delete;

  const std::vector<Entry>& entries() const { return entries_; }
  void record(std::string_view point);  // what a point does when this log is the thread's current

 private:
  PointLog* previous_;
  std::vector<Entry> entries_;
};

}  // namespace racelab
