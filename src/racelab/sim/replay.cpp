// Replaying a schedule text. See replay.hpp.
#include "racelab/sim/replay.hpp"

namespace racelab::detail {
namespace {

long position_of(const PickContext& c, const std::string& name) {
  for (std::size_t i = 0; i < c.enabled.size(); ++i)
    if (c.task_names[c.enabled[i]] == name) return static_cast<long>(i);
  return -1;
}

std::string enabled_names(const PickContext& c) {
  std::string s;
  for (auto idx : c.enabled) s += (s.empty() ? "" : ", ") + c.task_names[idx];
  return s.empty() ? "nobody" : s;
}

}  // namespace

std::string ReplayStrategy::upcoming() const {
  if (next_ >= schedule_.entries.size()) return "(none left)";
  Schedule one{{schedule_.entries[next_]}};
  auto text = one.text();
  return text.substr(text.find(' ') + 1);
}

std::string ReplayStrategy::leftover() const {
  return lenient_ || next_ >= schedule_.entries.size() ? std::string() : upcoming();
}

// Strict: the arrival must be the next entry's, or a point where the running task simply goes on.
// Lenient (the minimiser): entries that do not apply are skipped; the running task goes on, or
// the first enabled task runs.
std::size_t ReplayStrategy::pick(const PickContext& c) {
  const auto& entries = schedule_.entries;
  const bool idle = c.kind == StepKind::idle;
  const std::uint32_t occurrence = idle ? 0 : occurrences_.count(c.from, c.point);
  const std::string empty;
  const std::string& from = idle ? empty : c.task_names[c.from];
  long match = -1;
  for (std::size_t i = next_; i < entries.size(); ++i) {
    const auto& e = entries[i];
    if (idle ? e.from.empty() : e.from == from && e.point == c.point && e.occurrence == occurrence) {
      match = static_cast<long>(i);
      break;
    }
    if (!lenient_) break;
  }
  if (match >= 0) {
    const auto& e = entries[static_cast<std::size_t>(match)];
    next_ = static_cast<std::size_t>(match) + 1;
    if (e.crash && e.fault == Fault::crash) {
      if (c.crashable) return kCrash;
      if (!lenient_)
        throw ScheduleDiverged("the schedule crashes '" + from + "' at " + std::string(c.point) + "#" +
                               std::to_string(occurrence) +
                               ", which cannot crash there (not a RACELAB_POINT, or it is unwinding)");
    } else if (e.crash) {
      for (std::size_t i = 0; i < c.faults.size(); ++i)
        if (c.faults[i] == e.fault) return c.enabled.size() + i;
      if (!lenient_)
        throw ScheduleDiverged("the schedule injects " + std::string(to_string(e.fault)) + " into '" + from +
                               "' at " + std::string(c.point) + "#" + std::to_string(occurrence) +
                               ", which cannot fail that way there (the point does not offer it, or the "
                               "task is unwinding)");
    } else if (long pos = position_of(c, e.to); pos >= 0) {
      return static_cast<std::size_t>(pos);
    } else if (!lenient_) {
      throw ScheduleDiverged("the schedule switches to '" + e.to +
                             "', which cannot run now (runnable: " + enabled_names(c) + ")");
    }
  }
  if (c.current >= 0) return static_cast<std::size_t>(c.current);
  if (c.enabled.empty()) return kNobody;
  if (lenient_) return 0;
  const std::string where = idle ? "no task is running (" + std::string(c.point) + ")"
                                 : "'" + from + "' reached " + std::string(c.point) + "#" +
                                       std::to_string(occurrence) + " and cannot go on";
  throw ScheduleDiverged(where + ", but the schedule's next switch is " + upcoming());
}

}  // namespace racelab::detail
