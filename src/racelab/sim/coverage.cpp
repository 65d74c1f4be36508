// Coverage: counting runs, merging, and the reports. See racelab/coverage.hpp; the JSON form is in
// coverage_json.cpp.
#include "racelab/coverage.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <set>
#include <tuple>

#include "racelab/point.hpp"
#include "racelab/sim/coverage_state.hpp"

namespace racelab {

// --- names and rows ------------------------------------------------------------------------

std::uint32_t Names::intern(std::string_view name, bool* fresh) {
  auto it = ids.find(name);
  if (fresh != nullptr) *fresh = it == ids.end();
  if (it != ids.end()) return it->second;
  auto id = static_cast<std::uint32_t>(names.size());
  names.emplace_back(name);
  ids.emplace(names.back(), id);
  return id;
}

std::uint32_t Names::find(std::string_view name) const {
  auto it = ids.find(name);
  return it == ids.end() ? kAny : it->second;
}

std::uint32_t Coverage::State::learn_point(std::string_view name, const std::uint32_t* slot) {
  if (slot != nullptr) {
    Address& a = addresses[*slot];
    const std::string& known = points.names[a.point];
    if (known.size() == name.size() && std::memcmp(known.data(), name.data(), name.size()) == 0) {
      a.checked_run = runs;
      return a.point;
    }
  }
  bool fresh = false;
  std::uint32_t id = points.intern(name, &fresh);
  if (fresh) reached.push_back(0);
  if (slot != nullptr) {  // the address now holds another name
    addresses[*slot] = {id, runs};
  } else {
    point_by_address.insert(name.data(), static_cast<std::uint32_t>(addresses.size()));
    addresses.push_back({id, runs});
  }
  return id;
}

std::uint32_t Coverage::State::new_row(WindowKey key) {
  std::uint32_t any_task = kAny, any_end = kAny;
  if (key.task != kAny) {  // a task's window also counts towards its any-task aggregates
    any_task = row({kAny, key.from, key.to});
    any_end = row({kAny, key.from, kAny});
  }
  auto id = static_cast<std::uint32_t>(rows.size());
  WindowRow& added = rows.emplace_back();
  added.key = key;
  added.any_task_row = any_task;
  added.any_end_row = any_end;
  row_ids.insert(key, id);
  return id;
}

// --- schedules -----------------------------------------------------------------------------

namespace {

// The run's choices, (task, next) per step, in one 64-bit hash. Written out (not std::hash) so
// that it is the same in every build and process: shards' hashes must meet.
class ChoiceHash {
 public:
  void add(std::uint32_t task, std::uint32_t next) {
    std::uint64_t word = (std::uint64_t{task} << 32 | next) * 0x9e3779b97f4a7c15ULL;
    h_ = std::rotl(h_ ^ word, 29) * 0xc2b2ae3d27d4eb4fULL;
  }
  std::uint64_t finish(std::size_t steps) const { return detail::mix64(h_ ^ steps); }

 private:
  std::uint64_t h_ = 0x27d4eb2f165667c5ULL;
};

}  // namespace

void ScheduleSet::add(std::uint64_t hash) {
  if (!is_exact()) return add_to_registers(hash);
  exact.insert(hash, 0);
  if (exact.size() > Coverage::kExactSchedulesMax) to_registers();
}

void ScheduleSet::add_to_registers(std::uint64_t hash) {
  // The top kPrecision bits pick a register; it keeps the most leading zeros seen in the rest.
  auto index = static_cast<std::size_t>(hash >> (64 - kPrecision));
  std::uint64_t rest = hash << kPrecision;
  auto rank = static_cast<std::uint8_t>(rest == 0 ? kRankMax : std::countl_zero(rest) + 1);
  registers[index] = std::max(registers[index], rank);
}

void ScheduleSet::to_registers() {
  registers.assign(kRegisters, 0);
  exact.for_each([this](std::uint64_t h, std::uint32_t) { add_to_registers(h); });
  exact.clear();
}

void ScheduleSet::merge(const ScheduleSet& other) {
  if (other.is_exact()) {
    other.exact.for_each([this](std::uint64_t h, std::uint32_t) { add(h); });
    return;
  }
  if (is_exact()) to_registers();
  for (std::size_t i = 0; i < kRegisters; ++i) registers[i] = std::max(registers[i], other.registers[i]);
}

std::uint64_t ScheduleSet::count() const {
  if (is_exact()) return exact.size();
  // HyperLogLog (Flajolet et al. 2007) with linear counting for small counts.
  constexpr double m = kRegisters;
  double sum = 0;
  std::size_t zeros = 0;
  for (std::uint8_t r : registers) {
    sum += std::ldexp(1.0, -r);
    zeros += r == 0 ? 1 : 0;
  }
  double estimate = 0.7213 / (1 + 1.079 / m) * m * m / sum;
  if (estimate <= 2.5 * m && zeros != 0) estimate = m * std::log(m / static_cast<double>(zeros));
  return static_cast<std::uint64_t>(std::llround(estimate));
}

std::vector<std::uint64_t> ScheduleSet::sorted_hashes() const {
  std::vector<std::uint64_t> out;
  out.reserve(exact.size());
  exact.for_each([&out](std::uint64_t h, std::uint32_t) { out.push_back(h); });
  std::sort(out.begin(), out.end());
  return out;
}

// --- counting ------------------------------------------------------------------------------

namespace {

// Counts `row` once for run `run`, and its entry once if `entered`.
void count(WindowRow& row, std::uint64_t run, bool entered) {
  if (row.last_run != run) {
    row.last_run = run;
    ++row.runs;
  }
  if (entered && row.last_entered_run != run) {
    row.last_entered_run = run;
    ++row.entered;
  }
}

void credit(WindowRow& row, std::uint32_t task, std::uint64_t run) {
  auto it = std::find_if(row.by.begin(), row.by.end(), [task](const EnteredBy& b) { return b.task == task; });
  if (it == row.by.end()) it = row.by.insert(row.by.end(), EnteredBy{task, 0, 0});
  if (it->last_run != run) {
    it->last_run = run;
    ++it->runs;
  }
}

}  // namespace

Coverage::Coverage() : s_(std::make_unique<State>()) {}
Coverage::~Coverage() = default;
Coverage::Coverage(const Coverage& other) : s_(std::make_unique<State>(*other.s_)) {}
Coverage::Coverage(Coverage&& other) noexcept : s_(std::exchange(other.s_, std::make_unique<State>())) {}
Coverage& Coverage::operator=(Coverage other) noexcept {
  std::swap(s_, other.s_);
  return *this;
}

void Coverage::add(const Trace& trace) {
  State& s = *s_;
  const std::vector<TraceStep>& steps = trace.steps();
  const std::uint64_t run = ++s.runs;
  if (trace.tasks() != s.last_tasks) {  // explore's runs usually spawn the same tasks every time
    s.last_tasks = trace.tasks();
    s.task_ids.clear();
    for (const std::string& name : s.last_tasks) s.task_ids.push_back(s.tasks.intern(name));
  }
  const std::size_t task_count = s.task_ids.size();
  s.open.assign(task_count, State::Open{});
  ChoiceHash choices;
  for (std::size_t i = 0; i < steps.size(); ++i) {
    const TraceStep& step = steps[i];
    if (step.kind == StepKind::idle) {  // an idle step's task is meaningless: hash it as nobody
      choices.add(kNoTask, step.next);
      continue;
    }
    choices.add(step.task, step.next);
    if (step.task >= task_count) continue;
    State::Open& open = s.open[step.task];
    if (step.kind == StepKind::finish) {
      open.from = kAny;
      continue;
    }
    const std::uint32_t point = s.point_id(step.point);
    s.reached[point] = 1;
    if (step.kind != StepKind::point) {  // block, crash: the window ends without being one
      open.from = kAny;
      continue;
    }
    if (open.from != kAny) {
      const bool entered = i > open.step + 1 || steps[open.step].next != step.task;
      std::uint32_t id = s.row({s.task_ids[step.task], open.from, point});
      WindowRow& row = s.rows[id];
      count(row, run, entered);
      count(s.rows[row.any_task_row], run, entered);
      count(s.rows[row.any_end_row], run, entered);
      if (entered) {
        for (std::size_t k = open.step + 1; k < i; ++k)
          if (steps[k].kind != StepKind::idle && steps[k].task < task_count)
            credit(row, s.task_ids[steps[k].task], run);
      }
    }
    open = {point, i};
  }
  s.schedules.add(choices.finish(steps.size()));
}

void Coverage::merge(const Coverage& other) {
  if (&other == this) return merge(Coverage(other));
  State& s = *s_;
  const State& o = *other.s_;
  s.runs += o.runs;
  std::vector<std::uint32_t> point_ids, task_ids;  // other's id -> ours
  for (const std::string& name : o.points.names) {
    bool fresh = false;
    point_ids.push_back(s.points.intern(name, &fresh));
    if (fresh) s.reached.push_back(0);
  }
  for (std::size_t i = 0; i < o.reached.size(); ++i)
    if (o.reached[i] != 0) s.reached[point_ids[i]] = 1;
  for (const std::string& name : o.tasks.names) task_ids.push_back(s.tasks.intern(name));
  auto ours = [](const std::vector<std::uint32_t>& ids, std::uint32_t id) {
    return id == kAny ? kAny : ids[id];
  };
  for (const WindowRow& theirs : o.rows) {
    std::uint32_t id = s.row(
        {ours(task_ids, theirs.key.task), ours(point_ids, theirs.key.from), ours(point_ids, theirs.key.to)});
    WindowRow& row = s.rows[id];
    row.runs += theirs.runs;
    row.entered += theirs.entered;
    for (const EnteredBy& b : theirs.by) {
      std::uint32_t task = task_ids[b.task];
      auto it =
          std::find_if(row.by.begin(), row.by.end(), [task](const EnteredBy& e) { return e.task == task; });
      if (it == row.by.end()) it = row.by.insert(row.by.end(), EnteredBy{task, 0, 0});
      it->runs += b.runs;
    }
  }
  s.schedules.merge(o.schedules);
}

// --- results -------------------------------------------------------------------------------

std::uint64_t Coverage::runs() const { return s_->runs; }
std::uint64_t Coverage::distinct_schedules() const { return s_->schedules.count(); }
bool Coverage::distinct_exact() const { return s_->schedules.is_exact(); }

std::vector<std::string> Coverage::points_reached() const {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < s_->reached.size(); ++i)
    if (s_->reached[i] != 0) out.push_back(s_->points.names[i]);
  std::sort(out.begin(), out.end());
  return out;
}

namespace {
std::string_view family(std::string_view point) { return point.substr(0, point.find('.')); }
}  // namespace

std::vector<std::string> Coverage::points_never_reached() const {
  std::vector<std::string> reached = points_reached();
  std::set<std::string_view> families;
  for (const std::string& name : reached) families.insert(family(name));
  std::vector<std::string> out;
  for (const PointInfo& p : racelab::points())  // sorted by name
    if (families.count(family(p.name)) != 0 && !std::binary_search(reached.begin(), reached.end(), p.name))
      out.push_back(p.name);
  return out;
}

std::vector<WindowStat> Coverage::windows() const {
  const State& s = *s_;
  std::vector<WindowStat> out;
  for (const WindowRow& row : s.rows) {
    if (row.key.task == kAny) continue;
    WindowStat w{s.tasks.names[row.key.task],
                 s.points.names[row.key.from],
                 s.points.names[row.key.to],
                 row.runs,
                 row.entered,
                 {}};
    for (const EnteredBy& b : row.by) w.by.emplace_back(s.tasks.names[b.task], b.runs);
    std::sort(w.by.begin(), w.by.end());
    out.push_back(std::move(w));
  }
  std::sort(out.begin(), out.end(), [](const WindowStat& a, const WindowStat& b) {
    return std::tie(a.task, a.from, a.to) < std::tie(b.task, b.from, b.to);
  });
  return out;
}

bool operator==(const Coverage& a, const Coverage& b) { return a.json() == b.json(); }

// --- the human reports ---------------------------------------------------------------------

namespace {

// A share as a whole percentage that never rounds a few to 0% or nearly all to 100%.
std::string percent(std::uint64_t part, std::uint64_t whole) {
  if (whole == 0 || part == 0) return "0%";
  if (part == whole) return "100%";
  auto p = std::llround(100.0 * static_cast<double>(part) / static_cast<double>(whole));
  return std::to_string(std::clamp<long long>(p, 1, 99)) + "%";
}

std::string joined(const std::vector<std::string>& items, std::string_view separator) {
  std::string out;
  for (const std::string& item : items) out += (out.empty() ? "" : std::string(separator)) + item;
  return out;
}

}  // namespace

std::string Coverage::text(std::size_t max_windows) const {
  std::string out = "coverage: ";
  out += (distinct_exact() ? "" : "~") + std::to_string(distinct_schedules()) + " distinct schedules";
  out += (distinct_exact() ? "" : " (estimated)");
  out += " in " + std::to_string(runs()) + " runs";
  std::vector<std::string> never = points_never_reached();
  std::size_t reached = points_reached().size();
  out += "; " + std::to_string(reached) + " of " + std::to_string(reached + never.size()) + " points reached";
  if (!never.empty()) out += " (never: " + joined(never, ", ") + ")";
  std::vector<WindowStat> all = windows();
  std::stable_sort(all.begin(), all.end(), [](const WindowStat& a, const WindowStat& b) {
    return a.entered * b.runs < b.entered * a.runs;  // least entered first
  });
  out += "; " + std::to_string(all.size()) + " windows";
  for (std::size_t i = 0; i < all.size() && i < max_windows; ++i) {
    const WindowStat& w = all[i];
    out += "\n  " + w.from + " → " + w.to + " of " + w.task;
    if (w.entered == 0) {
      out += " never entered in " + std::to_string(w.runs) + " runs";
      continue;
    }
    std::vector<std::string> by;
    for (const auto& [task, n] : w.by) by.push_back(task + (w.by.size() > 1 ? " " + percent(n, w.runs) : ""));
    out += " entered by " + joined(by, ", ") + " in " + percent(w.entered, w.runs) + " of " +
           std::to_string(w.runs) + " runs";
  }
  if (all.size() > max_windows)
    out += "\n  … " + std::to_string(all.size() - max_windows) + " more in json()";
  return out;
}

std::vector<std::string> Coverage::warnings(const std::vector<std::string>& watched, double threshold) const {
  const State& s = *s_;
  std::vector<std::string> out;
  for (const std::string& watch : watched) {
    std::string from = watch, to;
    for (std::string_view arrow : {"→", "->"}) {
      if (auto at = watch.find(arrow); at != std::string::npos) {
        from = watch.substr(0, at);
        to = watch.substr(at + arrow.size());
        break;
      }
    }
    const std::string shown = to.empty() ? "window start " + from : "window " + from + " → " + to;
    const std::uint32_t from_id = s.points.find(from);
    const std::uint32_t to_id = to.empty() ? kAny : s.points.find(to);
    const std::uint32_t* id =
        from_id == kAny || (!to.empty() && to_id == kAny) ? nullptr : s.row_ids.find({kAny, from_id, to_id});
    if (id == nullptr || s.rows[*id].runs == 0) {
      out.push_back("coverage: " + shown + " was never reached in " + std::to_string(s.runs) +
                    " runs: the race it guards was not tested");
      continue;
    }
    const WindowRow& row = s.rows[*id];
    if (static_cast<double>(row.entered) >= threshold * static_cast<double>(row.runs)) continue;
    out.push_back("coverage: " + shown + " was entered by another task in " + std::to_string(row.entered) +
                  " of the " + std::to_string(row.runs) + " runs that reached it (" +
                  percent(row.entered, row.runs) + ", below " +
                  std::to_string(std::llround(threshold * 100)) + "%" +
                  "): run more schedules, or use a strategy that switches there");
  }
  return out;
}

}  // namespace racelab
