// The run space and its workers. See search.hpp.
#include "search.hpp"

#include "racelab/explore.hpp"
#include "racelab/point.hpp"
#include "workers.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <iterator>
#include <list>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <utility>

namespace racelab::detail {

namespace {
thread_local int t_explore_worker = 0;
thread_local const SearchKey* t_run_key = nullptr;
}  // namespace

int explore_worker() noexcept { return t_explore_worker; }
const std::vector<std::uint32_t>* explore_run_key() noexcept { return t_run_key; }

std::string key_text(const SearchKey& key) {
  std::string out;
  for (auto k : key) out += (out.empty() ? "" : ".") + std::to_string(k);
  return out;
}

// --- PathDfs ----------------------------------------------------------------------------------

PathDfs::PathDfs(std::int64_t bound, SearchKey key, std::shared_ptr<const DfsPath> parent)
    : bound_(bound), key_(std::move(key)), parent_(std::move(parent)) {}

std::string PathDfs::name() const { return bound_ < 0 ? "dfs" : "dfs:" + std::to_string(bound_); }

void PathDfs::begin_run(Random&) {
  path_ = std::make_shared<DfsPath>();
  preemptions_ = 0;
}

std::size_t PathDfs::pick(const PickContext& c) {
  std::size_t faults[kFaultKinds];
  const std::size_t n_faults = fault_options(c, faults);
  if (c.enabled.empty() && n_faults == 0) return kNobody;
  // The options, as BoundedDfs orders them: the running task, the others by index, the faults.
  const bool running = c.current >= 0;
  const bool others = !(running && bound_ >= 0 && preemptions_ >= bound_);
  const std::size_t n_others = others ? c.enabled.size() - (running ? 1 : 0) : 0;
  const auto count = static_cast<std::uint32_t>((running ? 1 : 0) + n_others + n_faults);
  std::uint32_t print = 2166136261u;
  auto mix = [&](std::uint32_t v) { print = (print ^ v) * 16777619u; };
  for (auto task : c.enabled) mix(task);
  mix(static_cast<std::uint32_t>(c.current + 1));
  mix(count);

  const std::size_t i = path_->choice.size();
  const std::uint32_t position = i < key_.size() ? key_[i] : 0;
  if (i < key_.size() && (parent_ == nullptr || i >= parent_->count.size() || parent_->count[i] != count ||
                          parent_->print[i] != print || position >= count))
    throw ScheduleDiverged("dfs re-executed its prefix and decision " + std::to_string(i + 1) + " (step " +
                           std::to_string(c.step) + ", at " + std::string(c.point) +
                           ") offered other choices than the first time: the code under test is "
                           "not deterministic, so the search cannot be a proof");
  path_->choice.push_back(position);
  path_->count.push_back(count);
  path_->print.push_back(print);

  std::size_t p = position;
  if (running) {
    if (p == 0) return static_cast<std::size_t>(c.current);
    --p;
  }
  if (p < n_others) {
    std::size_t chosen = running && p >= static_cast<std::size_t>(c.current) ? p + 1 : p;
    if (running) ++preemptions_;
    return chosen;
  }
  return faults[p - n_others];
}

// --- what both searches share ----------------------------------------------------------------

namespace {

// A key not yet run: the root, random run `index`, or parent->choice[0..depth) + k.
struct Task {
  std::shared_ptr<const DfsPath> parent;
  std::uint32_t depth = 0;
  std::uint32_t k = 0;
  int part = 0;
  bool random = false;
  std::uint32_t index = 0;

  std::size_t size() const { return random ? 1 : parent ? depth + 1 : 0; }
  std::uint32_t at(std::size_t i) const { return random ? index : i < depth ? parent->choice[i] : k; }
  SearchKey key() const {
    SearchKey out(size());
    for (std::size_t i = 0; i < out.size(); ++i) out[i] = at(i);
    return out;
  }
};

template <class A, class B>
bool less(const A& a, const B& b) {
  const std::size_t n = std::min(a.size(), b.size());
  for (std::size_t i = 0; i < n; ++i) {
    auto x = a.at(i), y = b.at(i);
    if (x != y) return x < y;
  }
  return a.size() < b.size();
}

struct TaskLess {
  bool operator()(const Task& a, const Task& b) const { return less(a, b); }
};

// Runs one key, naming it for explore_run_key() while it runs.
SearchRun execute(const SearchSpace& space, const SearchRunFn& run, const Task& task, const SearchKey& key) {
  struct Keyed {
    const SearchKey* outer;
    ~Keyed() { t_run_key = outer; }
  } keyed{std::exchange(t_run_key, &key)};
  if (!space.dfs) return run(key, nullptr);
  return run(key, std::make_shared<PathDfs>(space.dfs_bound, key, task.parent));
}

// The keys a DFS run reveals (its subtree's children), appended highest first, so that the lowest
// is at the back.
void children(const Task& task, const SearchKey& key, const SearchRun& run, std::vector<Task>& out) {
  if (run.path == nullptr) return;
  const auto& count = run.path->count;
  for (std::size_t i = key.size(); i < count.size(); ++i)
    for (std::uint32_t k = count[i]; k-- > 1;)
      out.push_back(Task{run.path, static_cast<std::uint32_t>(i), k, task.part});
}

// Runs work(worker) on `jobs` threads, each armed for its whole loop (so that the runs' own
// arm_thread() writes nothing shared) and named for explore_worker(). A worker never lets an
// exception out (a thread would terminate the process): `halt` gets it.
template <class Work, class Halt>
void on_workers(int jobs, Work work, Halt halt) {
  run_on_workers(jobs, [&](int worker) {
    const int outer = std::exchange(t_explore_worker, worker);
    arm_thread();
    try {
      work(worker);
    } catch (...) {
      halt(std::current_exception());
    }
    disarm_thread();
    t_explore_worker = outer;
  });
}

// --- the search: segments --------------------------------------------------------------------

class Search {
 public:
  Search(const SearchSpace& space, const SearchRunFn& run, const std::function<void(std::uint64_t)>& progress)
      : space_(space), run_(run), progress_(progress) {}

  SearchResult go() {
    coverage_.resize(static_cast<std::size_t>(space_.jobs));
    if (!space_.dfs) {
      next_index_ = static_cast<std::uint64_t>(space_.shard);
    } else if (space_.shards > 1) {
      split();
    } else {
      Segment& root = segments_.emplace_back();
      root.stack.push_back(Task{});
      root.origin = root.stack;
    }
    on_workers(
        space_.jobs, [this](int worker) { work_on(worker); },
        [this](std::exception_ptr e) { halt(std::move(e)); });
    if (error_) std::rethrow_exception(error_);
    resolve();
    if (error_) std::rethrow_exception(error_);
    if (progress_) progress_(result_.runs);
    return std::move(result_);
  }

 private:
  using Clock = std::chrono::steady_clock;

  struct Segment {
    // Owned by the worker that holds it (any thread under mu_ while nobody does):
    std::vector<Task> stack;   // DFS: the keys left, lowest at the back
    std::vector<Task> origin;  // DFS: the stack when the segment began: a re-run of its runs starts here
    std::uint64_t first = 0;   // random: its first run's index,
    std::uint64_t next = 0;    // the next one's,
    std::uint64_t left = 0;    // and how many it has left (every shards-th index)
    Coverage coverage;         // of its runs
    // Under mu_:
    int part = 0;
    std::uint64_t runs = 0;  // its runs, in key order: a failing one included, one that threw not
    std::optional<Outcome> failure;
    SearchKey failure_key;
    std::exception_ptr error;  // the run after its `runs` threw
    bool held = false;         // a worker runs it
    Clock::time_point began;   // when its worker took it first
    bool stopped = false;      // its worker stopped: its budget ran out, or one below it ended the search
    // Set under mu_, read by its worker between runs: a segment below failed or threw, so none of
    // this one's runs can count.
    std::atomic<bool> doomed = false;
    // Guards stack, next and left while its worker runs it: an idle worker takes a part of them
    // (under mu_ too) between two of its runs.
    std::mutex keys_mu;
    // How many keys (DFS) or runs (random) it has left, for idle workers to look at.
    std::atomic<std::uint64_t> size = 0;

    bool ended() const { return failure || error; }
    bool has_work() const { return !stack.empty() || left > 0; }
    bool open() const { return !held && !stopped && !ended() && has_work() && !doomed; }
  };
  using Segments = std::list<Segment>;

  // A worker looks at the others every kCheckIn runs or kCheckInTime, whichever comes first. With
  // several workers a segment holds at most kSegmentRuns runs or kSegmentTime of them (then its
  // keys go on as a new segment), which bounds the re-run of the one the limit cuts: a few
  // milliseconds of fiber runs, some tens for racelab run's program processes.
  static constexpr std::uint64_t kCheckIn = 64;
  static constexpr auto kCheckInTime = std::chrono::milliseconds(10);
  static constexpr std::uint64_t kSegmentRuns = 1024;
  static constexpr auto kSegmentTime = std::chrono::milliseconds(50);
  static constexpr auto kSlowRun = std::chrono::microseconds(50);

  // The same top of the tree in every shard: split the shallowest subtree (the one with the most
  // decisions left) until there are enough, then keep every shards-th as a segment of its own. The
  // splitting runs are shard 0's, each a segment of one run.
  void split() {
    std::set<Task, TaskLess> pending{Task{}};
    std::vector<std::pair<SearchKey, SearchRun>> top;
    const std::uint64_t wanted = 4 * static_cast<std::uint64_t>(space_.shards);
    while (!pending.empty() && pending.size() < wanted &&
           top.size() < std::min<std::uint64_t>(space_.limit, 2000)) {
      auto shallowest = std::min_element(pending.begin(), pending.end(),
                                         [](const Task& a, const Task& b) { return a.size() < b.size(); });
      Task task = *shallowest;
      pending.erase(shallowest);
      SearchKey key = task.key();
      SearchRun run = execute(space_, run_, task, key);
      std::vector<Task> found;
      children(task, key, run, found);
      for (Task& t : found) pending.insert(std::move(t));
      top.emplace_back(std::move(key), std::move(run));
    }
    // Both lists are in key order; every splitting run lies below the subtrees it revealed.
    std::vector<std::pair<SearchKey, Segments::iterator>> order;
    std::size_t i = 0;
    for (const Task& task : pending) {
      if (static_cast<int>(i++ % static_cast<std::size_t>(space_.shards)) != space_.shard) continue;
      auto s = segments_.emplace(segments_.end());
      s->part = static_cast<int>(result_.parts.size());
      result_.parts.push_back(SearchPart{task.key(), 0});
      s->stack.push_back(task);
      s->stack.back().part = s->part;
      s->origin = s->stack;
      order.emplace_back(result_.parts.back().key, s);
    }
    if (space_.shard == 0) {
      for (auto& [key, run] : top) {
        auto s = segments_.emplace(segments_.end());
        s->part = static_cast<int>(result_.parts.size());
        result_.parts.push_back(SearchPart{key, 0});
        s->runs = 1;
        s->coverage.add(run.outcome.trace());
        if (run.failed) {
          s->failure = std::move(run.outcome);
          s->failure_key = key;
        }
        order.emplace_back(std::move(key), s);
      }
    }
    std::sort(order.begin(), order.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    Segments sorted;
    for (auto& entry : order) sorted.splice(sorted.end(), segments_, entry.second);
    segments_ = std::move(sorted);
    retire();
  }

  // How many runs `s` may still make: the limit less the runs below it (as far as known: those
  // below may still grow) and its own; 0 once one below it failed or threw.
  std::uint64_t budget(Segments::iterator s) const {
    std::uint64_t below = retired_runs_;
    for (auto it = segments_.begin(); it != s; ++it) {
      if (it->ended()) return 0;
      below += it->runs;
    }
    below += s->runs;
    return below < space_.limit ? space_.limit - below : 0;
  }

  // The runs counted so far for certain: every segment in order up to the first one still open.
  std::uint64_t counted() const {
    std::uint64_t n = retired_runs_;
    for (const Segment& s : segments_) {
      n += s.runs;
      if (s.held || s.ended() || s.has_work()) break;
    }
    return std::min(n, space_.limit);
  }

  // Folds the lowest segments that are over and wholly counted into retired_runs_ and their
  // coverage into the result's.
  void retire() {
    while (!segments_.empty()) {
      Segment& s = segments_.front();
      if (s.held || s.ended() || s.has_work() || retired_runs_ + s.runs > space_.limit) return;
      retired_runs_ += s.runs;
      if (!result_.parts.empty()) result_.parts[static_cast<std::size_t>(s.part)].runs += s.runs;
      retired_.push_back(std::move(s.coverage));
      segments_.pop_front();
    }
  }

  // Random: a segment of the next runs of the shard, at the end (above every other): up to 1,024,
  // fewer as the space runs out, so that no worker idles while another holds the rest.
  Segments::iterator fresh() {
    const auto shards = static_cast<std::uint64_t>(space_.shards);
    const std::uint64_t left = (space_.limit - next_index_ + shards - 1) / shards;
    const std::uint64_t share = left / (2 * static_cast<std::uint64_t>(space_.jobs));
    auto s = segments_.emplace(segments_.end());
    s->first = s->next = next_index_;
    s->left = std::clamp<std::uint64_t>(share, 1, kSegmentRuns);
    next_index_ += s->left * shards;
    if (next_index_ >= space_.limit) fresh_done_ = true;
    return s;
  }

  // Can a part of `s` go to an idle worker? DFS: two keys or more on its stack; random: two runs
  // or more left, and no fresh ones to start instead.
  bool splittable(const Segment& s) const {
    if (space_.dfs) return s.stack.size() >= 2;
    return s.left >= 2 && fresh_done_.load(std::memory_order_relaxed);
  }

  // The next key of the segment (its lowest), taken off it.
  Task pop(Segment& s) const {
    if (space_.dfs) {
      Task task = std::move(s.stack.back());
      s.stack.pop_back();
      return task;
    }
    Task task;
    task.random = true;
    task.index = static_cast<std::uint32_t>(s.next);
    s.next += static_cast<std::uint64_t>(space_.shards);
    --s.left;
    return task;
  }

  // Gives a part of `s` (held by another worker, under its keys_mu) to an idle worker: returns
  // the new segment just above `s` that it takes.
  //   - DFS, fast runs: the upper half of the stack (the highest keys, at the front), so that a
  //     split is rare.
  //   - DFS, slow runs (racelab run's processes): the one key above the next one `s` runs (the
  //     rest of the stack above it becomes a segment of its own, above the given one). The
  //     workers stay close to the lowest keys: when the limit falls inside a subtree, little runs
  //     past it.
  //   - random: the last half of its range (every run of it is counted).
  Segments::iterator split_off(Segments::iterator s) {
    auto next = std::next(s);
    if (!space_.dfs) {
      auto upper = segments_.emplace(next);
      upper->part = s->part;
      const std::uint64_t keep = s->left - s->left / 2;
      upper->first = upper->next = s->next + keep * static_cast<std::uint64_t>(space_.shards);
      upper->left = s->left / 2;
      upper->size = upper->left;
      s->left = keep;
      s->size = keep;
      if (s->doomed) upper->doomed = true;
      return upper;
    }
    auto& stack = s->stack;
    const std::size_t n = stack.size();
    const bool slow = slow_runs_.load(std::memory_order_relaxed);
    const std::size_t keep = slow ? 1 : (n + 1) / 2;
    const std::size_t give = slow ? 1 : n - keep;
    const std::size_t rest = n - keep - give;
    auto piece = [&](std::size_t from, std::size_t count) {
      auto part = segments_.emplace(next);
      part->part = s->part;
      const auto begin = stack.begin() + static_cast<std::ptrdiff_t>(from);
      part->stack.assign(std::make_move_iterator(begin),
                         std::make_move_iterator(begin + static_cast<std::ptrdiff_t>(count)));
      part->origin = part->stack;
      part->size = count;
      if (s->doomed) part->doomed = true;
      return part;
    };
    // In key order: s, the given part, the rest (each emplaced before `next`).
    auto given = piece(rest, give);
    if (rest > 0) piece(0, rest);
    stack.erase(stack.begin(), stack.begin() + static_cast<std::ptrdiff_t>(n - keep));
    s->size = stack.size();
    return given;
  }

  // Is there a segment below `s` that a worker holds with keys to spare?
  bool spare_below(Segments::iterator s) const {
    for (auto it = segments_.begin(); it != s; ++it)
      if (it->held && !it->ended() && !it->doomed && it->size.load(std::memory_order_relaxed) >= 2)
        return true;
    return false;
  }

  // The segment a worker with nothing to do should take, or ask a part of: the lowest one open,
  // or held with keys to spare (DFS: before any open one above it; random: once no fresh runs are
  // left). end() when there is none.
  Segments::iterator lowest_work() {
    for (auto it = segments_.begin(); it != segments_.end(); ++it) {
      if (it->open()) return it;
      const bool spare = it->held && !it->ended() && !it->doomed &&
                         it->size.load(std::memory_order_relaxed) >= 2 &&
                         (space_.dfs || fresh_done_.load(std::memory_order_relaxed));
      if (spare) {
        std::lock_guard keys(it->keys_mu);
        if (splittable(*it)) return split_off(it);
      }
    }
    return segments_.end();
  }

  // Merges the coverages of the segments retired meanwhile into this worker's, outside mu_.
  // Called and returns with mu_ held.
  void merge_retired(std::unique_lock<std::mutex>& lock, int worker) {
    if (retired_.empty()) return;
    std::vector<Coverage> batch;
    batch.swap(retired_);
    lock.unlock();
    for (const Coverage& c : batch) coverage_[static_cast<std::size_t>(worker)].merge(c);
    batch.clear();
    lock.lock();
  }

  // Marks every segment above `s` doomed.
  void doom_above(Segments::iterator s) {
    for (auto it = std::next(s); it != segments_.end(); ++it) it->doomed = true;
  }

  void changed() {
    generation_.fetch_add(1, std::memory_order_release);
    wake_.notify_all();
  }

  void halt(std::exception_ptr error) {
    std::lock_guard lock(mu_);
    if (!error_) error_ = std::move(error);
    stop_ = true;
    changed();
  }

  // Waits, with mu_ released, until a segment is split or ends, or the search stops: a short
  // spin first (a split comes within one run of the segment's worker), then the condition variable.
  void wait_for_work(std::unique_lock<std::mutex>& lock) {
    const auto seen = generation_.load(std::memory_order_acquire);
    ++idle_;
    lock.unlock();
    for (int i = 0; i < 4000 && generation_.load(std::memory_order_acquire) == seen && !stop_; ++i)
      cpu_relax();
    lock.lock();
    wake_.wait_for(lock, std::chrono::milliseconds(1),
                   [&] { return generation_.load(std::memory_order_acquire) != seen || stop_; });
    --idle_;
  }

  // Holds the lowest open segment and runs it depth first, kCheckIn runs at a time with mu_
  // released, looking at the others in between: its budget, a segment below that ended the
  // search, an idle worker to give the upper half of its stack to. A segment ends at its first
  // failure or exception, when its keys run out, or when its budget does.
  void work_on(int worker) {
    std::unique_lock lock(mu_);
    std::uint64_t reported = 0;
    auto s = segments_.end();
    while (!stop_) {
      if (s == segments_.end()) {
        s = lowest_work();
        if (s == segments_.end() && !space_.dfs && next_index_ < space_.limit) s = fresh();
        if (s == segments_.end()) {
          if (held_ == 0) {
            stop_ = true;
            changed();
            break;
          }
          wait_for_work(lock);
          continue;
        }
        s->held = true;
        ++held_;
        if (s->runs == 0) s->began = Clock::now();
      }
      std::uint64_t chunk = std::min(budget(s), kCheckIn);
      if (space_.dfs && space_.jobs > 1 && chunk > 0 && !s->stack.empty() &&
          (s->runs >= kSegmentRuns || (s->runs > 0 && Clock::now() - s->began >= kSegmentTime))) {
        // Full: its keys go on as a new segment just above it (a re-run of a cut one stays short).
        auto next = segments_.emplace(std::next(s));
        next->part = s->part;
        next->stack = std::move(s->stack);
        s->stack.clear();
        next->origin = next->stack;
        next->size = next->stack.size();
        next->held = true;
        next->began = Clock::now();
        s->held = false;
        retire();
        s = next;
        continue;
      }
      Segment& seg = *s;
      std::uint64_t ran = 0;
      std::optional<Outcome> failure;
      SearchKey failure_key;
      std::exception_ptr error;
      lock.unlock();
      const auto chunk_began = Clock::now();
      while (ran < chunk) {
        if (stop_.load(std::memory_order_relaxed) || seg.doomed.load(std::memory_order_relaxed)) break;
        if (ran % 8 == 7 && Clock::now() - chunk_began >= kCheckInTime) break;
        Task task;
        {
          std::lock_guard keys(seg.keys_mu);
          if (!seg.has_work()) break;
          task = pop(seg);
          seg.size.store(space_.dfs ? seg.stack.size() : seg.left, std::memory_order_relaxed);
        }
        SearchKey key = task.key();
        SearchRun run;
        try {
          run = execute(space_, run_, task, key);
        } catch (...) {
          error = std::current_exception();
          break;
        }
        if (run.path != nullptr) {
          std::size_t size;
          {
            std::lock_guard keys(seg.keys_mu);
            children(task, key, run, seg.stack);
            size = seg.stack.size();
          }
          seg.size.store(size, std::memory_order_relaxed);
          // Keys to spare for a worker that waits: tell it (without mu_: it may miss this, and
          // then looks again within a millisecond).
          if (size >= 2 && idle_.load(std::memory_order_relaxed) > 0) changed();
        }
        ++ran;
        seg.coverage.add(run.outcome.trace());
        if (run.failed) {
          failure = std::move(run.outcome);
          failure_key = std::move(key);
          break;
        }
      }
      lock.lock();
      seg.runs += ran;
      if (failure || error) {
        seg.failure = std::move(failure);
        seg.failure_key = std::move(failure_key);
        seg.error = std::move(error);
        doom_above(s);
        if (!space_.dfs) {  // no run above this one can count: start no more of them
          next_index_ = space_.limit;
          fresh_done_ = true;
        }
      }
      if (ran > 0) {  // what kind of runs these are decides how an idle worker splits a segment
        const auto per_run = (Clock::now() - chunk_began) / ran;
        slow_runs_.store(per_run >= kSlowRun, std::memory_order_relaxed);
      }
      const bool over = seg.ended() || !seg.has_work() || seg.doomed || stop_ || budget(s) == 0;
      if (over) {
        if (!seg.ended() && seg.has_work()) seg.stopped = true;
        seg.held = false;
        --held_;
        s = segments_.end();
        retire();
      }
      if (over) {
        changed();
      } else if (space_.dfs && spare_below(s)) {
        // Keys to spare below this segment: they count before any of its own, so its worker
        // leaves it (open, as it is) and takes a part of those. A search the limit cuts then runs
        // little past the cut, whoever took which part first.
        seg.held = false;
        --held_;
        s = segments_.end();
      }
      merge_retired(lock, worker);
      if (worker == 0 && progress_) {
        if (const std::uint64_t n = counted(); n != reported) {
          reported = n;
          lock.unlock();
          progress_(n);
          lock.lock();
        }
      }
    }
    if (s != segments_.end()) {  // stopped by another: nothing more of it runs
      s->held = false;
      --held_;
      if (s->has_work() && !s->ended()) s->stopped = true;
    }
  }

  // Runs the first `n` keys of `s` again, from its origin, for their coverage (the limit falls
  // inside it; its coverage has runs past the cut).
  Coverage rerun(const Segment& s, std::uint64_t n) {
    Coverage coverage;
    Segment again;
    again.stack = s.origin;
    again.next = s.first;
    again.left = space_.dfs ? 0 : n;
    for (std::uint64_t i = 0; i < n && again.has_work(); ++i) {
      const Task task = pop(again);
      const SearchKey key = task.key();
      const SearchRun run = execute(space_, run_, task, key);
      children(task, key, run, again.stack);
      coverage.add(run.outcome.trace());
    }
    return coverage;
  }

  // The answer, read off the segments in key order once every worker has stopped.
  void resolve() {
    std::uint64_t total = retired_runs_;
    bool cut = false;
    auto count = [&](Segment& s, std::uint64_t n, Coverage coverage) {
      total += n;
      if (!result_.parts.empty()) result_.parts[static_cast<std::size_t>(s.part)].runs += n;
      retired_.push_back(std::move(coverage));
    };
    for (Segment& s : segments_) {
      if (total >= space_.limit) {  // a key of the space past the limit
        cut = true;
        break;
      }
      const std::uint64_t room = space_.limit - total;
      if (s.runs > room || (s.error && s.runs == room)) {  // the limit falls inside this segment
        count(s, room, s.runs > room ? rerun(s, room) : std::move(s.coverage));
        cut = true;
        break;
      }
      count(s, s.runs, std::move(s.coverage));
      if (s.error) {
        error_ = s.error;
        return;
      }
      if (s.failure) {
        result_.failure = std::move(s.failure);
        result_.failure_key = std::move(s.failure_key);
        break;
      }
      if (s.has_work()) {  // stopped with keys left (at the limit, or the search halted)
        cut = true;
        break;
      }
    }
    result_.runs = total;
    for (const Coverage& c : coverage_) result_.coverage.merge(c);
    for (const Coverage& c : retired_) result_.coverage.merge(c);
    result_.complete = space_.dfs && !result_.failure && !cut;  // a random space is never exhausted
  }

  const SearchSpace& space_;
  const SearchRunFn& run_;
  const std::function<void(std::uint64_t)>& progress_;

  std::mutex mu_;
  std::condition_variable wake_;
  Segments segments_;                          // in key order; the lowest ones retire as they end
  std::uint64_t retired_runs_ = 0;             // the runs of the segments retired
  std::vector<Coverage> retired_;              // their coverages, until a worker merges them into its own
  std::vector<Coverage> coverage_;             // per worker: of the segments it merged
  std::uint64_t next_index_ = 0;               // random: the first run of the shard no segment has
  std::atomic<bool> fresh_done_ = false;       // random: no run of the shard is left to start a segment
  std::atomic<bool> slow_runs_ = false;        // the last check-in's runs took kSlowRun or more each
  std::atomic<int> idle_ = 0;                  // workers in wait_for_work
  int held_ = 0;                               // segments a worker holds
  std::atomic<std::uint64_t> generation_ = 0;  // bumped when a segment is split or ends
  std::atomic<bool> stop_ = false;             // written under mu_
  std::exception_ptr error_;
  SearchResult result_;
};

}  // namespace

SearchResult search(const SearchSpace& space, const SearchRunFn& run,
                    const std::function<void(std::uint64_t)>& progress) {
  return Search(space, run, progress).go();
}

}  // namespace racelab::detail
