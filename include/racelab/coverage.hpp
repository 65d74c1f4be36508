// racelab/coverage.hpp — what a set of simulated runs covered: schedules, points, race windows.
//
// A green explore() says "no failure found"; Coverage says how hard it looked. Fed every run's
// trace, it counts the distinct schedules tried, the points reached (and the registered points of
// the same families that never were), and for every window of a task — from one of its points to
// its next — in how many runs another task cut in. Coverages merge exactly, across threads and
// across shard processes (through json() / from_json()).
//
//   racelab::Coverage cov;
//   for (std::uint64_t seed = 0; seed < 100; ++seed) cov.add(run_bank(seed).trace());
//   std::cout << cov.text() << '\n';      // "coverage: 37 distinct schedules in 100 runs; ..."
//   for (auto& w : cov.warnings({"bank.read->bank.check"}, 0.05)) std::cout << w << '\n';
//   std::ofstream("shard-3.json") << cov.json();  // later: total.merge(Coverage::from_json(text))
//
// Definitions (docs/simulation.md, "Coverage: what a green run means"):
// - A window of task T is two consecutive steps of T that are both arrivals at a point
//   (StepKind::point): T arrives at `from`, later T arrives at `to`, no other step of T between.
//   A step of T that blocks, ends or crashes closes T's open window without recording it: a
//   blocked task let others run because it had to, not because the schedule chose to cut in.
// - The window was entered in a run if some other task ran in between. Counts are per run: a
//   window that occurs five times in one run and is entered once adds 1 to `runs` and 1 to
//   `entered`. Tasks are identified across runs by name.
// - A schedule is the run's sequence of choices, (task, next) per step; two runs are the same
//   schedule when those sequences hash alike (a 64-bit hash, stable across builds and processes).
//   Up to kExactSchedulesMax distinct hashes are kept exactly; beyond that a HyperLogLog (2^14
//   registers, about 0.8% error) estimates the count in bounded memory. The state depends only on
//   the set of hashes, so merged shards count exactly what one process would have.
//
// Not thread-safe: give each thread its own Coverage and merge them afterwards. add() keeps views
// of nothing: names are copied the first time they are seen, so a trace may die right after.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "racelab/sim/trace.hpp"

namespace racelab {

// One window of one task, over all runs added.
struct WindowStat {
  std::string task, from, to;
  std::uint64_t runs = 0;     // runs in which `task` went from point `from` to its next point `to`
  std::uint64_t entered = 0;  // of those, runs in which another task ran in between
  std::vector<std::pair<std::string, std::uint64_t>> by;  // who entered, in how many runs; by name
  friend bool operator==(const WindowStat&, const WindowStat&) = default;
};

// from_json() on text that is not a coverage report; the message names the problem.
class CoverageFormatError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

class Coverage {
 public:
  static constexpr std::size_t kExactSchedulesMax = 4096;

  Coverage();
  ~Coverage();
  Coverage(const Coverage& other);
  Coverage(Coverage&& other) noexcept;
  Coverage& operator=(Coverage other) noexcept;

  // One run. One pass over the steps; allocates only when it meets a name or window it has not
  // seen before.
  void add(const Trace& trace);
  // Afterwards *this is what one Coverage fed this one's runs and `other`'s would be.
  void merge(const Coverage& other);

  std::uint64_t runs() const;
  std::uint64_t distinct_schedules() const;
  bool distinct_exact() const;                      // false once the count is a HyperLogLog estimate
  std::vector<std::string> points_reached() const;  // sorted
  // Points in racelab::points() whose family (the name up to its first '.') has a reached point,
  // but that no run reached. Sorted.
  std::vector<std::string> points_never_reached() const;
  std::vector<WindowStat> windows() const;  // sorted by task, from, to

  // A JSON object carrying everything merge() needs (documented in docs/simulation.md), and its
  // inverse; from_json throws CoverageFormatError naming what is wrong.
  std::string json() const;
  static Coverage from_json(std::string_view text);

  // The human summary: a line of counts, then up to `max_windows` windows, least entered first.
  std::string text(std::size_t max_windows = 10) const;
  // One readable warning per watched window start that was entered in fewer than `threshold`
  // (a fraction, 0..1) of the runs that had it, or that no run had. A watch is a point name
  // ("bank.read": any window starting there) or a window ("bank.read->bank.check", or with "→"),
  // over all tasks.
  std::vector<std::string> warnings(const std::vector<std::string>& watched, double threshold) const;

  friend bool operator==(const Coverage& a, const Coverage& b);

 private:
  struct State;
  std::unique_ptr<State> s_;
};

}  // namespace racelab
