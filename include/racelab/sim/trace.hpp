// racelab/sim/trace.hpp — what a simulated run did, step by step, and how to show it.
//
// A Trace is the sequence of scheduling steps: which task arrived where (a point, a blocking call,
// its end) and which task the scheduler chose next. A Schedule is the short form that replays a
// run: only the context switches, each named by task, point and occurrence, so it survives
// reseeding and changes elsewhere in the code:
//
//   racelab-schedule/1: *>A A@bank.after_read#1>B B@end>A
//
// reads "start with A; when A reaches bank.after_read for the first time, switch to B; when B
// ends, switch to A". `!crash` instead of `>X` injects a crash there; `!deadlock`, `!lost_after_commit`
// and the other names of racelab/fault.hpp inject that fault where the point offers it.
//
//   std::cout << out.trace().timeline();        // one column per task, one row per step
//   std::ofstream("run.json") << out.trace().chrome_json();   // open in Perfetto
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "racelab/fault.hpp"

namespace racelab {

namespace detail {
class SimCore;
struct OutcomeAccess;
}  // namespace detail

enum class StepKind : std::uint8_t {
  point,   // the task reached a point and may be preempted here
  block,   // the task blocked (mutex, condition variable, join, sleep)
  finish,  // the task ended
  crash,   // an injected fault: a crash was thrown in the task here, or TraceStep::fault produced
  idle,    // no task was running (the start, or every task waited and the clock advanced)
};

// TraceStep::next when nobody can run after the step (every task waits; the clock moves next).
inline constexpr std::uint32_t kNoTask = 0xffffffffu;

struct TraceStep {
  std::uint32_t task = 0;  // who arrived (meaningless for idle)
  std::string_view point;  // where ("end" for finish)
  StepKind kind = StepKind::point;
  Fault fault = Fault::crash;  // for a crash step: which fault
  std::uint32_t next = 0;      // who runs next, or kNoTask
  std::int64_t time_ns = 0;    // virtual time
};

class Trace {
 public:
  const std::vector<TraceStep>& steps() const { return steps_; }
  const std::vector<std::string>& tasks() const { return tasks_; }
  // One line per step: "7 B transfer.after_read -> A". Identical for identical runs.
  std::string text() const;
  // The picture people draw by hand: one column per task, one row per step.
  std::string timeline() const;
  // Chrome trace-event JSON (one track per task), for chrome://tracing or ui.perfetto.dev.
  std::string chrome_json() const;

 private:
  friend class detail::SimCore;
  friend struct detail::OutcomeAccess;
  std::vector<TraceStep> steps_;
  std::vector<std::string> tasks_;
};

// One context switch of a schedule.
struct ScheduleEntry {
  std::string from;              // "" for an idle decision (the start, a clock advance)
  std::string point;             // where `from` was
  std::uint32_t occurrence = 0;  // `from`'s n-th step at `point` (1-based)
  std::string to;                // who runs next ("" for a crash)
  bool crash = false;            // a fault is injected here: `fault` (written !crash, !deadlock, …)
  Fault fault = Fault::crash;
};

class ScheduleParseError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

struct Schedule {
  std::vector<ScheduleEntry> entries;
  std::string text() const;
  static Schedule parse(std::string_view text);  // throws ScheduleParseError naming the bad token
  // The schedule of a finished run, derived from its trace.
  static Schedule from_trace(const Trace& trace);
};

}  // namespace racelab
