// Private to racelab: the run space of explore() and how N workers cover it with one answer.
//
// Every run has a key, and the keys are totally ordered; a search's answer is defined by that
// order alone, never by which worker ran what when:
//   - random and PCT: run i (seed + i) has key {i};
//   - DFS: a run is the sequence of option positions it took at each decision (0 = the running
//     task, as BoundedDfs orders options); its key is that sequence without its trailing zeros.
//     Sequential depth-first order is exactly the lexicographic order of these keys.
// The answer: the runs are the first `limit` keys of the space (of the shard); the failure is the
// failing run with the lowest key among them, and `runs` counts the keys up to and including it;
// the coverage is that of exactly those runs. A run whose body threw (a broken test, not a
// finding) is ranked the same way: its exception is rethrown only if no failure comes before it.
//
// Workers run *segments*: contiguous stretches of the key order, each run by one worker at a time
// in key order, counting its runs and adding them to a coverage of its own as they finish, and
// stopping at its first failure. No run waits to be counted: the answer is read off the segments
// in order at the end.
//   - Random: a segment is a range of run indices (up to 1,024, fewer as the space runs out).
//   - DFS: a run of key p reveals the option counts of every decision after p's last choice, so
//     it adds the keys p + 0…0 + k (k >= 1) of its subtree: each key is produced exactly once. A
//     segment is a stack of keys (lowest at the back) and their subtrees, run depth first.
// A worker with nothing to do takes the lowest open segment, or splits the lowest one another
// worker holds with keys to spare (under that segment's own mutex): the upper half of its stack
// (or range) for fast runs; for slow ones (racelab run's processes) the one DFS key above its
// next one, so that the workers stay near the lowest keys. A worker with spare keys below its
// segment leaves it for them. Either way the segments stay in key order and every key is in
// exactly one. A DFS segment may run past the limit when the segments below it turn out to have
// more runs than it knew (it runs while those below and its own stay under the limit); the one
// segment the limit then cuts is run again up to the cut, for its coverage (segments hold at
// most 1,024 runs or 50 ms of them when there are several workers, which bounds that re-run),
// and the segments above it are dropped.
//
// Shards: random run i belongs to shard i mod N. A DFS shard first expands the top of the tree the
// same way in every shard (one thread, always splitting the shallowest subtree), then takes every
// N-th of the resulting subtrees; the expansion's own runs belong to shard 0. Each shard reports
// its subtrees ("parts") with their run counts so a merge can rank a failure in the whole tree.
#pragma once

#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "racelab/coverage.hpp"
#include "racelab/outcome.hpp"
#include "racelab/sim/strategy.hpp"

namespace racelab::detail {

using SearchKey = std::vector<std::uint32_t>;
std::string key_text(const SearchKey& key);  // "" for the DFS root, "0.2.1" otherwise

// What one DFS run saw at each decision: the position taken, how many options there were, and a
// fingerprint of the choice (enabled tasks, who was running), to catch a prefix re-executed
// differently.
struct DfsPath {
  std::vector<std::uint32_t> choice, count, print;
};

// A DFS strategy for one run: take `key`'s positions, then the first option at every decision;
// check the prefix against the run that produced the key (`parent`, up to and including `depth`).
class PathDfs final : public Strategy {
 public:
  PathDfs(std::int64_t bound, SearchKey key, std::shared_ptr<const DfsPath> parent);
  std::string name() const override;
  bool exhaustive() const override { return true; }
  void begin_run(Random&) override;
  std::size_t pick(const PickContext& context) override;
  std::shared_ptr<const DfsPath> path() const { return path_; }

 private:
  std::int64_t bound_;
  SearchKey key_;
  std::shared_ptr<const DfsPath> parent_;
  std::shared_ptr<DfsPath> path_;
  std::int64_t preemptions_ = 0;
};

// The result of one run, as the search needs it.
struct SearchRun {
  Outcome outcome;
  bool failed = false;
  std::shared_ptr<const DfsPath> path;  // DFS only; null if the run diverged
};

struct SearchPart {
  SearchKey key;
  std::uint64_t runs = 0;
};

struct SearchResult {
  std::uint64_t runs = 0;
  bool complete = false;  // nothing left in the (shard's) space, no failure, no limit reached
  std::optional<Outcome> failure;
  SearchKey failure_key;
  std::vector<SearchPart> parts;  // DFS shards only
  Coverage coverage;              // of the counted runs
};

struct SearchSpace {
  bool dfs = false;
  std::int64_t dfs_bound = -1;
  std::uint64_t limit = 1;  // runs, at most
  int shard = 0, shards = 1;
  int jobs = 1;
};

// `run` executes one run (for DFS, with the strategy given; for random, key {i}); it is called
// from `jobs` threads at once. `progress` is called on the calling thread with the count of runs
// counted so far, and once more at the end with the final one.
using SearchRunFn = std::function<SearchRun(const SearchKey& key, std::shared_ptr<PathDfs> dfs)>;
SearchResult search(const SearchSpace& space, const SearchRunFn& run,
                    const std::function<void(std::uint64_t)>& progress);

}  // namespace racelab::detail
