// Private to racelab: replaying a schedule text, as a strategy like the others.
//
// A schedule names each context switch by (task, point, occurrence): "A@bank.after_read#2>B" is
// "when A arrives at bank.after_read for the second time, B runs next". Occurrences are counted by
// one class, Occurrences, over the arrivals a trace records; Schedule::from_trace counts a
// finished run's trace with it, and ReplayStrategy counts the arrivals it is asked about with it.
// Since the engine asks the strategy at exactly the steps it records, the two counts agree.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "racelab/sim/strategy.hpp"
#include "racelab/sim/trace.hpp"

namespace racelab::detail {

// How many times each task has arrived at each point (1-based, by point name).
class Occurrences {
 public:
  std::uint32_t count(std::uint32_t task, std::string_view point) {
    if (task >= per_task_.size()) per_task_.resize(task + 1);
    for (auto& [name, n] : per_task_[task])
      if (name == point) return ++n;
    per_task_[task].emplace_back(point, 1);
    return 1;
  }

 private:
  std::vector<std::vector<std::pair<std::string_view, std::uint32_t>>> per_task_;
};

class ReplayStrategy final : public Strategy {
 public:
  ReplayStrategy(Schedule schedule, bool lenient) : schedule_(std::move(schedule)), lenient_(lenient) {}
  std::string name() const override { return "replay"; }
  std::size_t pick(const PickContext& c) override;
  // Strict replay: the switch the run ended before taking, or "" if every entry was used.
  std::string leftover() const;
  bool lenient() const { return lenient_; }

 private:
  std::string upcoming() const;
  Schedule schedule_;
  bool lenient_;
  std::size_t next_ = 0;
  Occurrences occurrences_;
};

}  // namespace racelab::detail
