// What a `racelab run` session saw (a race, a sleep, a non-zero exit), ranked by the run that saw
// it, so that its report does not depend on which worker ran which run (`--jobs`).
//
// A run's rank is its place in the order one worker would run them in: the detect phase's runs,
// then each explore() call (the --time chunks) with its runs before the search (PCT's probe), the
// search's runs by key, and the runs after it (minimisation, verification). The search runs keys
// ahead of its answer (past the first failure, past a DFS's --runs bound); what only those saw is
// forgotten once the call returns (forget_after), as if they had never run.
//
//   Earliest<RaceRecord> race;
//   race.see(run_rank, [&] { return record; });    // from any worker, under the session's lock
//   race.forget_after(call, last_counted_key);     // after the call, on the calling thread
//   if (const auto* r = race.first()) print(*r);    // what the earliest run saw
#pragma once

#include <compare>
#include <cstdint>
#include <map>
#include <utility>
#include <vector>

namespace racelab::run {

struct RunRank {
  int call = 0;                    // 0: the detect phase; explore() calls from 1
  int stage = 0;                   // 0 before the search, 1 the search, 2 after it
  std::vector<std::uint32_t> key;  // stage 1: the run's key (detail::explore_run_key())
  std::uint64_t serial = 0;        // stages 0 and 2: such runs go one after another, counted
  int index = 0;                   // a sighting's place among its run's sightings
  auto operator<=>(const RunRank&) const = default;
  bool searched() const { return stage == 1; }
};

// The earliest sighting of one thing, kept per call and stage (the earliest of a search's runs may
// be forgotten, and then nothing else that search saw of it counts either: the runs it counts are
// a prefix of its keys).
template <class T>
class Earliest {
 public:
  // Keeps make()'s value if `rank` is the earliest sighting of its call and stage.
  template <class Make>
  void see(const RunRank& rank, Make&& make) {
    auto [it, fresh] = by_stage_.try_emplace({rank.call, rank.stage});
    if (fresh || rank < it->second.first) it->second = {rank, make()};
  }
  // Forgets what the search of `call` saw in runs with keys above `last` (or in every run, if
  // `all`): runs it ran ahead of its answer.
  void forget_after(int call, const std::vector<std::uint32_t>& last, bool all) {
    auto it = by_stage_.find({call, 1});
    if (it != by_stage_.end() && (all || last < it->second.first.key)) by_stage_.erase(it);
  }
  bool empty() const { return by_stage_.empty(); }
  // The earliest of all (nullptr when empty).
  const RunRank* rank() const { return empty() ? nullptr : &by_stage_.begin()->second.first; }
  const T* first() const { return empty() ? nullptr : &by_stage_.begin()->second.second; }

 private:
  std::map<std::pair<int, int>, std::pair<RunRank, T>> by_stage_;
};

}  // namespace racelab::run
