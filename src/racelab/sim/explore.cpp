// explore(): many runs, the first failure, verification, minimisation, the story.
#include "racelab/explore.hpp"

#include <sched.h>

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <map>
#include <mutex>
#include <ostream>
#include <sstream>
#include <thread>

#include "racelab/sim/core.hpp"
#include "racelab/sim/strategy.hpp"
#include "search.hpp"

namespace racelab {
namespace {

using detail::OutcomeAccess;
using Body = std::function<void(Simulation&)>;

// Runs tasks one after another: the running task keeps going; otherwise the first enabled task in
// `order` (tasks spawned during the run come after, by index).
class Serial final : public Strategy {
 public:
  explicit Serial(std::vector<std::uint32_t> order) : order_(std::move(order)) {}
  std::string name() const override { return "serial"; }
  std::size_t pick(const PickContext& c) override {
    if (c.current >= 0) return static_cast<std::size_t>(c.current);
    std::size_t best = 0;
    for (std::size_t i = 1; i < c.enabled.size(); ++i)
      if (rank(c.enabled[i]) < rank(c.enabled[best])) best = i;
    return best;
  }

 private:
  std::size_t rank(std::uint32_t task) const {
    auto it = std::find(order_.begin(), order_.end(), task);
    return it != order_.end() ? static_cast<std::size_t>(it - order_.begin()) : order_.size() + task;
  }
  std::vector<std::uint32_t> order_;
};

struct Replay {
  const Schedule* schedule = nullptr;
  bool lenient = false;
};

struct RunResult {
  Outcome outcome;
  std::string snapshot;  // set when the body asked for check_serializable
  bool has_snapshot = false;
  std::size_t initial_tasks = 0;
};

RunResult run_once(const Body& body, const SimOptions& options, std::shared_ptr<Strategy> strategy,
                   Replay replay) {
  Simulation sim(options, std::move(strategy));
  if (replay.schedule != nullptr) OutcomeAccess::core(sim).use_replay(*replay.schedule, replay.lenient);
  std::string body_error;
  try {
    body(sim);
    if (!sim.has_run()) static_cast<void>(sim.run());
  } catch (const std::exception& e) {
    if (!sim.has_run()) throw;  // the body failed before running: a broken test, not a finding
    body_error = e.what();
  } catch (...) {
    if (!sim.has_run()) throw;
    body_error = "a non-std exception";
  }
  RunResult r{sim.outcome(), {}, false, OutcomeAccess::core(sim).initial_task_count()};
  if (r.outcome.ok() && !body_error.empty())
    r.outcome = OutcomeAccess::with_failure(r.outcome, "check after run: " + body_error);
  if (sim.serializable_snapshot()) {
    r.snapshot = sim.serializable_snapshot()();
    r.has_snapshot = true;
  }
  return r;
}

// Final states of every serial order of the top-level tasks, computed once per explore().
class SerialOracle {
 public:
  // The serial orders run with the search's first seed, whichever run asks first (so the answer
  // does not depend on jobs or shards).
  void set_base(const SimOptions& base) { base_ = base; }
  std::string check(const Body& body, const SimOptions& options, const RunResult& run) {
    std::lock_guard lock(mu_);  // runs check from several threads; the first computes
    if (!computed_) compute(body, base_ ? *base_ : options, run);
    auto it = states_.find(run.snapshot);
    if (it != states_.end()) return "";
    std::string msg = "not serializable: the final state\n    " + run.snapshot +
                      "\n  equals no serial execution of the tasks; the serial orders give:";
    for (const auto& [state, orders] : states_) msg += "\n    " + state + "   (" + orders + ")";
    return msg;
  }

 private:
  void compute(const Body& body, const SimOptions& base, const RunResult& run) {
    computed_ = true;
    const std::size_t n = run.initial_tasks;
    if (n > 7) throw ExploreOptionsError("racelab: check_serializable supports up to 7 top-level tasks");
    std::vector<std::uint32_t> order(n);
    for (std::uint32_t i = 0; i < n; ++i) order[i] = i;
    do {
      SimOptions opts = base;
      opts.crash_probability = 0.0;
      auto r = run_once(body, opts, std::make_shared<Serial>(order), {});
      std::string label;
      for (auto i : order) label += (label.empty() ? "" : ", ") + run.outcome.trace().tasks()[i];
      auto& orders = states_[r.snapshot];
      orders += (orders.empty() ? "" : "; ") + label;
    } while (std::next_permutation(order.begin(), order.end()));
  }
  std::mutex mu_;
  std::optional<SimOptions> base_;
  bool computed_ = false;
  std::map<std::string, std::string> states_;  // state -> the orders that produce it
};

RunResult run_checked(const Body& body, const SimOptions& options, std::shared_ptr<Strategy> strategy,
                      Replay replay, SerialOracle& oracle) {
  auto r = run_once(body, options, std::move(strategy), replay);
  if (r.outcome.ok() && r.has_snapshot) {
    auto why = oracle.check(body, options, r);
    if (!why.empty()) r.outcome = OutcomeAccess::with_failure(r.outcome, why);
  }
  return r;
}

template <class T>
T env_number(const char* name, const char* text, T lowest) {
  T value{};
  std::string_view s(text);
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc() || ptr != s.data() + s.size() || s.empty() || value < lowest)
    throw ExploreOptionsError(std::string("racelab: ") + name + "='" + text +
                              "' is not an integer >= " + std::to_string(lowest));
  return value;
}

SimOptions sim_options(const ExploreOptions& o, std::uint64_t seed) {
  SimOptions s;
  s.seed = seed;
  s.strategy = o.strategy;
  s.max_steps = o.max_steps;
  s.crash_probability = o.crash_probability;
  s.crash_points = o.crash_points;
  s.faults = o.faults;
  return s;
}

// The first line where two traces differ, for non-determinism reports.
std::string first_difference(const std::string& a, const std::string& b) {
  std::istringstream sa(a), sb(b);
  std::string la, lb;
  for (int line = 1;; ++line) {
    bool ea = !std::getline(sa, la), eb = !std::getline(sb, lb);
    if (ea && eb) return "";
    if (ea || eb || la != lb)
      return "step " + std::to_string(line) + ": first run '" + (ea ? "(ended)" : la) + "', re-run '" +
             (eb ? "(ended)" : lb) + "'";
  }
}

// The CPUs this process may run on (its affinity mask: a container's or taskset's limit), not
// every core of the machine.
int usable_cores() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) return std::max(1, CPU_COUNT(&set));
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

bool same_failure(const Outcome& a, const Outcome& b) { return !b.ok() && a.kind() == b.kind(); }

}  // namespace

ExploreOptions with_environment(ExploreOptions o) {
  if (!o.use_env) return o;
  if (const char* v = std::getenv("RACELAB_STRATEGY"); v != nullptr && *v != '\0') o.strategy = v;
  if (const char* v = std::getenv("RACELAB_RUNS"); v != nullptr && *v != '\0')
    o.runs = env_number<int>("RACELAB_RUNS", v, 1);
  if (const char* v = std::getenv("RACELAB_SEED"); v != nullptr && *v != '\0') {
    o.seed = env_number<std::uint64_t>("RACELAB_SEED", v, 0);
    o.runs = 1;
  }
  if (const char* v = std::getenv("RACELAB_SCHEDULE"); v != nullptr && *v != '\0') o.schedule = v;
  if (const char* v = std::getenv("RACELAB_JOBS"); v != nullptr && *v != '\0')
    o.jobs = env_number<int>("RACELAB_JOBS", v, 0);
  if (const char* v = std::getenv("RACELAB_VERIFY"); v != nullptr && *v != '\0') {
    std::string_view s(v);
    if (s == "1" || s == "true" || s == "yes")
      o.verify = true;
    else if (s == "0" || s == "false" || s == "no")
      o.verify = false;
    else
      throw ExploreOptionsError(std::string("racelab: RACELAB_VERIFY='") + v + "' is not 1 or 0");
  }
  o.use_env = false;
  return o;
}

int explore_jobs(int jobs, bool use_env) {
  if (const char* v = std::getenv("RACELAB_JOBS"); use_env && v != nullptr && *v != '\0')
    jobs = env_number<int>("RACELAB_JOBS", v, 0);
  if (jobs < 0) throw ExploreOptionsError("racelab: ExploreOptions::jobs must be >= 0 (0: one per core)");
  return jobs == 0 ? usable_cores() : jobs;
}

Report explore(const ExploreOptions& in, const Body& body) {
  ExploreOptions o = with_environment(in);
  if (o.runs < 1) throw ExploreOptionsError("racelab: ExploreOptions::runs must be >= 1");
  o.jobs = explore_jobs(o.jobs, false);  // with_environment read RACELAB_JOBS
  if (o.shard.count < 1 || o.shard.index < 0 || o.shard.index >= o.shard.count)
    throw ExploreOptionsError("racelab: ExploreOptions::shard " + std::to_string(o.shard.index) + "/" +
                              std::to_string(o.shard.count) + " is not a shard: need 0 <= index < count");
  if (!body) throw ExploreOptionsError("racelab: explore() needs a body");
  Report r;
  SerialOracle oracle;

  if (!o.schedule.empty()) {  // replay one schedule, strictly
    Schedule schedule;
    try {
      schedule = Schedule::parse(o.schedule);
    } catch (const ScheduleParseError& e) {
      throw ExploreOptionsError(std::string("racelab: schedule: ") + e.what());
    }
    r.strategy_ = "replay";
    r.seed_replays_ = false;
    auto run = run_checked(body, sim_options(o, o.seed), nullptr, {&schedule, false}, oracle);
    r.runs_ = 1;
    if (!run.outcome.ok()) r.failing_ = r.minimal_ = run.outcome;
    return r;
  }

  try {
    static_cast<void>(make_strategy(o.strategy));  // reject a bad spec before running anything
  } catch (const StrategyError& e) {
    throw ExploreOptionsError(e.what());
  }
  // PCT draws its priority-change points from the first k steps. Unless k is given (pct:d:k), it
  // is measured: one serial run of the body (deterministic, so a seed still replays the same run).
  if (o.strategy.starts_with("pct:") && std::count(o.strategy.begin(), o.strategy.end(), ':') == 1) {
    SimOptions probe = sim_options(o, o.seed);
    probe.crash_probability = 0.0;
    std::vector<std::uint32_t> order;
    auto steps = run_once(body, probe, std::make_shared<Serial>(order), {}).outcome.steps();
    o.strategy += ":" + std::to_string(std::max<std::uint64_t>(steps, 2));
  }
  std::shared_ptr<Strategy> strategy;
  try {
    strategy = make_strategy(o.strategy);
  } catch (const StrategyError& e) {
    throw ExploreOptionsError(e.what());
  }
  r.strategy_ = strategy->name();
  r.seed_replays_ = !strategy->exhaustive();

  oracle.set_base(sim_options(o, o.seed));
  detail::SearchSpace space;
  space.dfs = strategy->exhaustive();
  if (space.dfs && o.strategy.size() > 4) space.dfs_bound = std::stoll(o.strategy.substr(4));
  space.limit = static_cast<std::uint64_t>(o.runs);
  space.shard = o.shard.index;
  space.shards = o.shard.count;
  space.jobs = o.jobs;
  r.jobs_ = o.jobs;
  r.shard_ = o.shard;
  auto run_one = [&](const detail::SearchKey& key, std::shared_ptr<detail::PathDfs> dfs) {
    const auto options = sim_options(o, dfs ? o.seed : o.seed + key[0]);
    std::shared_ptr<Strategy> s = dfs;
    if (!s) s = detail::make_shared_strategy(o.strategy);
    auto once = run_checked(body, options, s, {}, oracle);
    detail::SearchRun out;
    if (dfs && !once.outcome.diverged()) out.path = dfs->path();
    if (out.path && out.path->choice.size() < key.size()) {  // ended before its prefix did
      out.outcome = OutcomeAccess::with_failure(
          once.outcome,
          "dfs re-executed its prefix and the run ended after decision " +
              std::to_string(out.path->choice.size()) + " of " + std::to_string(key.size()) +
              ": the code under test is not deterministic, so the search cannot be a proof",
          OutcomeKind::diverged);
      out.failed = true;
      out.path = nullptr;
      return out;
    }
    if (o.verify && once.outcome.ok()) {  // a passing run must be a function of its choices too
      const Schedule schedule = Schedule::from_trace(once.outcome.trace());
      auto again = run_checked(body, options, nullptr, {&schedule, false}, oracle).outcome;
      auto diff = first_difference(once.outcome.trace().text(), again.trace().text());
      if (!diff.empty() || again.kind() != once.outcome.kind()) {
        std::string which =
            dfs ? "the run at dfs position '" + detail::key_text(key) + "'"
                : "run " + std::to_string(key[0] + 1) + " (seed " + std::to_string(options.seed) + ")";
        out.outcome = OutcomeAccess::with_failure(
            again,
            which + " passed, and replaying its schedule differs at " +
                (diff.empty()
                     ? "its outcome (" + std::string(to_string(again.kind())) + ": " + again.message() + ")"
                     : diff),
            OutcomeKind::diverged);
        out.failed = true;
        return out;
      }
    }
    out.failed = !once.outcome.ok();
    out.outcome = std::move(once.outcome);
    return out;
  };
  const std::uint64_t every = std::max(1, o.runs / 100);
  std::uint64_t next_progress = every;
  auto progress = [&](std::uint64_t done) {
    if (!o.progress || done < next_progress) return;
    next_progress = (done / every + 1) * every;
    o.progress(ExploreProgress{static_cast<int>(done), o.runs});
  };
  auto searched = detail::search(space, run_one, progress);
  r.coverage_ = std::move(searched.coverage);
  r.warnings_ = r.coverage_.warnings(o.watch, o.watch_threshold);
  r.runs_ = static_cast<int>(searched.runs);
  r.complete_ = searched.complete;
  for (auto& part : searched.parts) r.parts_.push_back(ExplorePart{detail::key_text(part.key), part.runs});
  if (searched.failure) {
    r.failing_ = std::move(searched.failure);
    r.run_key_ = detail::key_text(searched.failure_key);
  }
  if (!r.failed()) return r;

  const Outcome& found = *r.failing_;
  if (found.kind() == OutcomeKind::diverged) {  // the strategy's own finding: not the program's failure
    r.nondeterministic_ = true;
    r.notes_.push_back("non-deterministic: " + found.message());
    r.minimal_ = found;
    return r;
  }
  const auto failing_options = sim_options(o, found.seed());
  const Schedule found_schedule = Schedule::from_trace(found.trace());

  // The self-check, always: the failure must replay from its schedule, step for step. With verify,
  // a seed must also give the same run again.
  auto check = [&](const Outcome& first, const Outcome& again, const std::string& how) {
    auto diff = first_difference(first.trace().text(), again.trace().text());
    if (diff.empty() && again.kind() == first.kind() && again.message() == first.message()) return true;
    r.nondeterministic_ = true;
    r.notes_.push_back(
        "non-deterministic: " + how + " differs from the first run at " +
        (diff.empty() ? "its outcome ('" + again.message() + "')" : diff) +
        ". The code under test depends on something outside the simulation: a real "
        "clock, a real thread, a lock that is not racelab's, or state left from an earlier run.");
    return false;
  };
  bool replays =
      check(found, run_checked(body, failing_options, nullptr, {&found_schedule, false}, oracle).outcome,
            "replaying its schedule");
  if (o.verify && r.seed_replays_) {
    std::shared_ptr<Strategy> fresh = make_strategy(o.strategy);  // o.strategy includes PCT's k
    replays = check(found, run_checked(body, failing_options, fresh, {}, oracle).outcome,
                    "re-running seed " + std::to_string(found.seed())) &&
              replays;
  }
  if (replays) r.notes_.push_back("verified: the failure replays identically");

  r.minimal_ = found;
  if (o.minimize && !r.nondeterministic_) {
    Schedule best = found_schedule;
    std::optional<Outcome> shrunk_to;
    int budget = 2000;
    for (bool shrunk = true; shrunk && budget > 0;) {
      shrunk = false;
      for (std::size_t i = best.entries.size(); i-- > 0 && budget > 0;) {
        Schedule candidate = best;
        candidate.entries.erase(candidate.entries.begin() + static_cast<long>(i));
        --budget;
        auto run = run_checked(body, failing_options, nullptr, {&candidate, true}, oracle);
        if (!same_failure(found, run.outcome)) continue;
        Schedule normal = Schedule::from_trace(run.outcome.trace());
        if (normal.entries.size() >= best.entries.size()) continue;
        best = std::move(normal);
        shrunk_to = run.outcome;
        shrunk = true;
        break;
      }
    }
    // What the report offers must itself replay: the minimal schedule, strictly, to the same run.
    if (shrunk_to) {
      auto again = run_checked(body, failing_options, nullptr, {&best, false}, oracle).outcome;
      if (same_failure(found, again) && again.trace().text() == shrunk_to->trace().text()) {
        r.minimal_ = again;
      } else {
        r.notes_.push_back("minimisation skipped: the shrunk schedule did not replay to the same failure (" +
                           std::string(to_string(again.kind())) + ": " + again.message() + ")");
      }
    }
  }
  return r;
}

std::uint64_t Report::seed() const { return failing_ ? failing_->seed() : 0; }
std::string Report::schedule() const { return minimal_ ? minimal_->schedule() : std::string(); }
const Outcome& Report::outcome() const {
  if (!minimal_) throw std::logic_error("racelab: Report::outcome() without a failure; check failed() first");
  return *minimal_;
}
const Outcome& Report::original() const {
  if (!failing_)
    throw std::logic_error("racelab: Report::original() without a failure; check failed() first");
  return *failing_;
}

std::string Report::summary() const {
  std::ostringstream out;
  if (!failed()) {
    out << strategy_ << ": " << runs_ << (complete_ ? " schedules explored, all of them" : " runs")
        << ", no failure";
    return out.str();
  }
  // A shard names the failing run by its place in the whole run space, as one process would.
  if (seed_replays_)
    out << "seed " << seed() << " fails (" << strategy_ << ", run "
        << (shard_.count > 1 ? std::stoull(run_key_) + 1 : static_cast<unsigned long long>(runs_)) << ")";
  else if (shard_.count > 1)
    out << "the schedule at dfs position " << run_key_ << " of " << strategy_ << " fails";
  else
    out << "schedule " << runs_ << " of " << strategy_ << " fails";
  out << ": " << to_string(original().kind());
  return out.str();
}

std::ostream& operator<<(std::ostream& out, const Report& r) {
  out << "racelab: " << r.summary() << '\n';
  for (const auto& warning : r.warnings()) out << "  warning: " << warning << '\n';
  if (!r.failed()) {
    if (r.coverage().runs() > 0) out << "  " << r.coverage().text() << '\n';
    return out;
  }
  const Outcome& m = r.outcome();
  out << "  " << m.message() << '\n';
  if (m.kind() == OutcomeKind::diverged) {  // nothing to minimise or replay: show where it stopped fitting
    for (const auto& note : r.notes()) out << "  " << note << '\n';
    out << m.trace().timeline();
    return out;
  }
  auto schedule = m.schedule();
  auto switches = Schedule::parse(schedule).entries.size();
  out << "  minimal schedule (" << switches << " switches, from "
      << Schedule::from_trace(r.original().trace()).entries.size() << "): " << schedule << '\n';
  for (const auto& note : r.notes()) out << "  " << note << '\n';
  out << m.trace().timeline();
  out << "  replay: ";
  if (r.seed_replays()) out << "RACELAB_SEED=" << r.seed() << "  or  ";
  out << "RACELAB_SCHEDULE='" << schedule << "'\n";
  return out;
}

}  // namespace racelab

namespace racelab {

ShardSummary shard_summary(const Report& report) {
  return ShardSummary{report.strategy().starts_with("dfs"),
                      static_cast<std::uint64_t>(report.runs()),
                      report.complete(),
                      report.failed(),
                      report.run_key(),
                      report.parts()};
}

namespace {

detail::SearchKey parse_key(const std::string& text) {
  detail::SearchKey key;
  std::size_t at = 0;
  while (at < text.size()) {
    auto dot = text.find('.', at);
    if (dot == std::string::npos) dot = text.size();
    std::uint32_t k = 0;
    auto [ptr, ec] = std::from_chars(text.data() + at, text.data() + dot, k);
    if (ec != std::errc() || ptr != text.data() + dot)
      throw ExploreOptionsError("racelab: run key '" + text + "' is not a list of numbers separated by dots");
    key.push_back(k);
    at = dot + 1;
  }
  return key;
}

bool is_prefix(const detail::SearchKey& prefix, const detail::SearchKey& key) {
  return prefix.size() <= key.size() && std::equal(prefix.begin(), prefix.end(), key.begin());
}

}  // namespace

MergedShards merge_shards(const std::vector<ShardSummary>& shards) {
  MergedShards merged;
  if (shards.empty()) return merged;
  const bool dfs = shards.front().dfs;
  merged.complete = dfs;
  std::optional<detail::SearchKey> first;
  for (std::size_t i = 0; i < shards.size(); ++i) {
    const auto& s = shards[i];
    if (s.dfs != dfs) throw ExploreOptionsError("racelab: cannot merge a dfs shard with a random or pct one");
    merged.runs += s.runs;
    merged.complete = merged.complete && s.complete;
    if (dfs && !s.complete && !s.failed) merged.exact = false;
    if (!s.failed) continue;
    auto key = parse_key(s.run_key);
    if (!first || key < *first) {
      first = std::move(key);
      merged.first_failure = static_cast<int>(i);
    }
  }
  if (!first) return merged;
  merged.complete = false;
  if (!dfs) {  // run i of the whole space: the runs up to it are runs 0..i
    merged.runs = (*first)[0] + 1;
    return merged;
  }
  // The failure's part is the longest part key it extends; every other part lies wholly before
  // or after it, and counts if before. A shard without parts (one shard) ranks its own runs.
  const auto& owner = shards[static_cast<std::size_t>(merged.first_failure)];
  if (owner.parts.empty()) {
    merged.runs = owner.runs;
    return merged;
  }
  const ExplorePart* home = nullptr;
  detail::SearchKey home_key;
  for (const auto& part : owner.parts) {
    auto key = parse_key(part.key);
    if (is_prefix(key, *first) && (home == nullptr || key.size() >= home_key.size())) {
      home = &part;
      home_key = std::move(key);
    }
  }
  if (home == nullptr)
    throw ExploreOptionsError("racelab: the failing run's key is in none of its shard's parts");
  merged.runs = home->runs;
  for (const auto& s : shards)
    for (const auto& part : s.parts)
      if (&part != home && parse_key(part.key) < *first) merged.runs += part.runs;
  return merged;
}

}  // namespace racelab
