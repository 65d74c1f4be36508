// The run space and its workers. See search.hpp.
#include "search.hpp"

#include "racelab/explore.hpp"
#include "racelab/point.hpp"
#include "workers.hpp"

#include <algorithm>
#include <atomic>
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

// --- the search -------------------------------------------------------------------------------

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

struct KeyView {
  const SearchKey& key;
  std::size_t size() const { return key.size(); }
  std::uint32_t at(std::size_t i) const { return key[i]; }
};

struct TaskLess {
  bool operator()(const Task& a, const Task& b) const { return less(a, b); }
};

class Search {
 public:
  Search(const SearchSpace& space, const SearchRunFn& run, const SettledFn& settled,
         const std::function<void(std::uint64_t)>& progress)
      : space_(space), run_(run), settled_(settled), progress_(progress) {}

  SearchResult go() {
    const auto jobs = static_cast<std::size_t>(space_.jobs);
    to_report_.resize(jobs);
    if (space_.dfs) {
      if (space_.shards > 1)
        split();
      else
        pending_.insert(Task{});
    } else {
      next_index_ = static_cast<std::uint64_t>(space_.shard);
    }
    run_on_workers(space_.jobs, [this](int worker) { work(worker); });
    if (error_) std::rethrow_exception(error_);
    // Runs settled by the last worker after the one that ran them had left: every worker has
    // stopped, so this thread may give them to their worker's callback.
    for (std::size_t w = 0; w < jobs; ++w)
      for (const Outcome& outcome : to_report_[w]) settled_(static_cast<int>(w), outcome);
    if (progress_) progress_(result_.runs);  // the final count, whichever worker settled it
    result_.complete =
        space_.dfs && !result_.failure && !cut_ && pending_.empty() && running_.empty() && done_.empty();
    return std::move(result_);
  }

 private:
  struct Done {
    SearchRun run;
    int part = 0;
    int worker = 0;            // who ran it: its settled runs are reported on that worker's thread
    std::exception_ptr error;  // the body threw (a broken test): rethrown if this run is counted
  };

  SearchRun execute(const Task& task, const SearchKey& key) {
    struct Keyed {  // explore_run_key() names this run while it runs
      const SearchKey* outer;
      ~Keyed() { t_run_key = outer; }
    } keyed{std::exchange(t_run_key, &key)};
    if (!space_.dfs) return run_(key, nullptr);
    return run_(key, std::make_shared<PathDfs>(space_.dfs_bound, key, task.parent));
  }

  // The keys a DFS run reveals (its subtree's children), appended highest first, so that the
  // lowest is at the back.
  void children(const Task& task, const SearchKey& key, const SearchRun& run, std::vector<Task>& out) const {
    if (!space_.dfs || run.path == nullptr) return;
    const auto& count = run.path->count;
    for (std::size_t i = key.size(); i < count.size(); ++i)
      for (std::uint32_t k = count[i]; k-- > 1;)
        out.push_back(Task{run.path, static_cast<std::uint32_t>(i), k, task.part});
  }

  void expand(const Task& task, const SearchKey& key, const SearchRun& run) {
    std::vector<Task> found;
    children(task, key, run, found);
    for (Task& t : found) pending_.insert(std::move(t));
  }

  // The same top of the tree in every shard: split the shallowest subtree (the one with the most
  // decisions left) until there are enough, then keep every shards-th. The splitting runs are
  // shard 0's.
  void split() {
    pending_.insert(Task{});
    std::vector<std::pair<SearchKey, SearchRun>> top;
    const std::uint64_t wanted = 4 * static_cast<std::uint64_t>(space_.shards);
    while (!pending_.empty() && pending_.size() < wanted &&
           top.size() < std::min<std::uint64_t>(space_.limit, 2000)) {
      auto shallowest = std::min_element(pending_.begin(), pending_.end(),
                                         [](const Task& a, const Task& b) { return a.size() < b.size(); });
      Task task = *shallowest;
      pending_.erase(shallowest);
      SearchKey key = task.key();
      SearchRun run = execute(task, key);
      expand(task, key, run);
      top.emplace_back(std::move(key), std::move(run));
    }
    std::set<Task, TaskLess> mine;
    std::size_t i = 0;
    for (const auto& task : pending_) {
      if (static_cast<int>(i++ % static_cast<std::size_t>(space_.shards)) != space_.shard) continue;
      Task t = task;
      t.part = static_cast<int>(result_.parts.size());
      result_.parts.push_back(SearchPart{t.key(), 0});
      mine.insert(std::move(t));
    }
    pending_ = std::move(mine);
    if (space_.shard != 0) return;
    for (auto& [key, run] : top) {
      int part = static_cast<int>(result_.parts.size());
      result_.parts.push_back(SearchPart{key, 0});
      done_.emplace(std::move(key), Done{std::move(run), part, 0, nullptr});
    }
  }

  // The lowest keys not yet taken, up to `wanted`, lowest first, into `batch`.
  void take(std::size_t wanted, std::vector<Task>& batch) {
    batch.clear();
    while (batch.size() < wanted) {
      if (space_.dfs) {
        if (pending_.empty()) return;
        batch.push_back(*pending_.begin());
        pending_.erase(pending_.begin());
        continue;
      }
      if (next_index_ >= space_.limit) return;
      Task task;
      task.random = true;
      task.index = static_cast<std::uint32_t>(next_index_);
      next_index_ += static_cast<std::uint64_t>(space_.shards);
      batch.push_back(std::move(task));
    }
  }

  // How many runs a worker makes per batch: up to 16 random ones (32 of a DFS subtree), so the mutex
  // is taken once per batch, not per run; fewer as the random space runs out (so no worker idles
  // while another holds the rest), and one when many finished runs already wait to be settled (the
  // lowest key is what they wait for).
  std::size_t batch_size() const {
    if (done_.size() >= ahead() / 2) return 1;
    if (space_.dfs) return kSubtreeRuns;
    const auto shards = static_cast<std::uint64_t>(space_.shards);
    const std::uint64_t left =
        next_index_ >= space_.limit ? 0 : (space_.limit - next_index_ + shards - 1) / shards;
    const std::uint64_t share = left / (2 * static_cast<std::uint64_t>(space_.jobs));
    return static_cast<std::size_t>(std::clamp<std::uint64_t>(share, 1, 16));
  }

  static constexpr std::size_t kSubtreeRuns = 32;  // runs of a DFS batch, at most

  // Finished runs above a slow lower one wait, traces and all, to be counted: at most this many.
  std::size_t ahead() const { return 64 * static_cast<std::size_t>(space_.jobs); }

  // Is `key` below every key still pending or running?
  bool below_open(const SearchKey& key) const {
    KeyView v{key};
    if (space_.dfs ? !pending_.empty() && !less(v, *pending_.begin())
                   : next_index_ < space_.limit && !(key[0] < next_index_))
      return false;
    return running_.empty() || key < *running_.begin();
  }

  void settle() {
    while (!stop_ && !done_.empty() && below_open(done_.begin()->first)) {
      auto node = done_.extract(done_.begin());
      if (result_.runs >= space_.limit) {  // a key of the space past the limit: not complete
        cut_ = true;
        stop_ = true;
        break;
      }
      if (node.mapped().error) {  // in key order, like a failure: the same error for any jobs
        error_ = node.mapped().error;
        stop_ = true;
        break;
      }
      ++result_.runs;
      if (!result_.parts.empty()) ++result_.parts[static_cast<std::size_t>(node.mapped().part)].runs;
      if (node.mapped().run.failed) {
        result_.failure = node.mapped().run.outcome;
        result_.failure_key = std::move(node.key());
        stop_ = true;
      }
      if (settled_)
        to_report_[static_cast<std::size_t>(node.mapped().worker)].push_back(
            std::move(node.mapped().run.outcome));
    }
    if (result_.runs >= space_.limit) stop_ = true;
  }

  // Hands this worker's settled runs to `settled_`, outside mu_ (the callback, coverage, and freeing
  // the runs cost as much as the bookkeeping), on the thread that ran them: their memory was
  // allocated here and is still in this core's cache. Called and returns with mu_ held.
  void report(std::unique_lock<std::mutex>& lock, int worker) {
    auto& queue = to_report_[static_cast<std::size_t>(worker)];
    while (!queue.empty()) {
      std::vector<Outcome> batch;
      batch.swap(queue);
      lock.unlock();
      for (const auto& outcome : batch) settled_(worker, outcome);
      batch.clear();
      lock.lock();
    }
  }

  // Stops every worker with `error` (unless one is already known).
  void halt(std::exception_ptr error) {
    std::lock_guard lock(mu_);
    if (!error_) error_ = std::move(error);
    stop_ = true;
    wake_.notify_all();
  }

  // A worker never lets an exception out (a thread would terminate the process): the body's are
  // ranked by key in settle(); anything else (the progress callback's, an allocation's) halts.
  void work(int worker) {
    const int outer = std::exchange(t_explore_worker, worker);
    arm_thread();  // armed for the whole loop: the runs' own arm_thread() then writes nothing shared
    try {
      work_on(worker);
    } catch (...) {
      halt(std::current_exception());
    }
    disarm_thread();
    t_explore_worker = outer;
  }

  // Takes a batch, runs it with mu_ released, files the results, settles, and reports its own
  // settled runs. While the batch runs, its lowest key stands in `running_` for all of it.
  //   - random: the next keys of the shard, run in order;
  //   - DFS: the lowest pending key and then its subtree, depth first, on a stack of this
  //     worker's own (no other key lies between a key and its subtree, so nobody else needs
  //     them); what is left goes back to the pending keys at the end, or as soon as another
  //     worker waits for work.
  // A batch ends early at a failure or a body's exception (the keys above it are never counted)
  // and when the search stops.
  void work_on(int worker) {
    std::unique_lock lock(mu_);
    std::uint64_t reported = 0;
    std::vector<Task> batch;  // DFS: a stack, its lowest key at the back
    std::vector<std::pair<SearchKey, Done>> finished;
    while (!stop_) {
      if (done_.size() >= ahead() && !running_.empty()) {
        wake_.wait(lock);
        continue;
      }
      std::size_t wanted = batch_size();
      take(space_.dfs ? 1 : wanted, batch);
      // A DFS key below every run waiting to be counted is what they wait for: its whole batch.
      if (space_.dfs && !batch.empty() &&
          (done_.empty() || less(batch.front(), KeyView{done_.begin()->first})))
        wanted = kSubtreeRuns;
      // Never more than the limit could still count: a search of --runs 1 runs one run, not a
      // subtree's worth (for racelab run each is a process; for racelab sql a database's round).
      if (const std::uint64_t taken = result_.runs + done_.size(); space_.dfs && taken < space_.limit)
        wanted = static_cast<std::size_t>(std::min<std::uint64_t>(wanted, space_.limit - taken));
      if (batch.empty()) {
        if (running_.empty()) {
          settle();
          stop_ = true;
          break;
        }
        ++idle_;
        wake_.wait(lock);
        --idle_;
        continue;
      }
      SearchKey lowest = batch.front().key();
      running_.insert(lowest);
      lock.unlock();
      bool ended = false;  // a failure, an error, or the search stopped: the rest is never run
      std::size_t next = 0;
      for (std::size_t ran = 0;; ++ran) {
        if (stop_.load(std::memory_order_relaxed)) {
          ended = true;
          break;
        }
        if (ran == wanted || (space_.dfs ? batch.empty() : next == batch.size())) break;
        if (space_.dfs && ran > 0 && idle_.load(std::memory_order_relaxed) > 0) break;  // share
        Task task;
        if (space_.dfs) {
          task = std::move(batch.back());
          batch.pop_back();
        } else {
          task = batch[next++];
        }
        SearchKey key = task.key();
        Done done{{}, task.part, worker, nullptr};
        try {
          done.run = execute(task, key);
        } catch (...) {
          done.error = std::current_exception();
        }
        if (!done.error) children(task, key, done.run, batch);
        ended = done.error || done.run.failed;
        finished.emplace_back(std::move(key), std::move(done));
        if (ended) break;
      }
      lock.lock();
      running_.erase(lowest);
      // One worker and no shards: the keys left on its stack lie above every run waiting to be
      // settled, all its own (depth-first order is key order; a shard 0's splitting runs would lie
      // between), so they can wait until the settle says whether the search goes on at all.
      // A search that stops at its limit then never files them (for a long run's thousands of
      // alternatives, filing them one by one in the pending set cost more than the run).
      const bool defer = space_.dfs && space_.jobs == 1 && space_.shards == 1 && !ended && !batch.empty();
      if (!defer && (space_.dfs ? !batch.empty() : next < batch.size())) {
        if (ended)
          cut_ = true;  // keys of the space never run
        else
          for (Task& task : batch) pending_.insert(std::move(task));
      }
      for (auto& [key, done] : finished) done_.emplace(std::move(key), std::move(done));
      finished.clear();
      settle();
      if (defer) {
        if (stop_)
          cut_ = true;
        else
          for (Task& task : batch) pending_.insert(std::move(task));
      }
      batch.clear();
      wake_.notify_all();
      report(lock, worker);
      if (worker == 0 && progress_ && result_.runs != reported) {
        reported = result_.runs;
        lock.unlock();
        progress_(reported);
        lock.lock();
      }
    }
    wake_.notify_all();
    report(lock, worker);
  }

  const SearchSpace& space_;
  const SearchRunFn& run_;
  const SettledFn& settled_;
  const std::function<void(std::uint64_t)>& progress_;

  std::mutex mu_;
  std::condition_variable wake_;
  std::set<Task, TaskLess> pending_;             // DFS
  std::uint64_t next_index_ = 0;                 // random: the next run of this shard
  std::set<SearchKey> running_;                  // the lowest key of each batch being run
  std::map<SearchKey, Done> done_;               // finished, not yet settled
  std::vector<std::vector<Outcome>> to_report_;  // per worker: settled, not yet given to settled_
  std::atomic<bool> stop_ = false;               // written under mu_; read without it between a batch's runs
  std::atomic<int> idle_ = 0;  // workers waiting for a key: a DFS batch then shares its stack
  bool cut_ = false;           // a key of the space was never counted (limit, stop)
  std::exception_ptr error_;
  SearchResult result_;
};

}  // namespace

SearchResult search(const SearchSpace& space, const SearchRunFn& run, const SettledFn& settled,
                    const std::function<void(std::uint64_t)>& progress) {
  return Search(space, run, settled, progress).go();
}

}  // namespace racelab::detail
