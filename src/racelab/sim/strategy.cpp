// The search strategies: random walk, PCT, bounded DFS. See racelab/sim/strategy.hpp.
#include "racelab/sim/strategy.hpp"

#include <algorithm>
#include <charconv>
#include <limits>
#include <vector>

namespace racelab {

// --- Random: xoshiro256** seeded by splitmix64 --------------------------------------------------

void Random::reseed(std::uint64_t seed) {
  for (auto& s : s_) {
    seed += 0x9e3779b97f4a7c15ULL;
    std::uint64_t z = seed;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    s = z ^ (z >> 31);
  }
}

std::uint64_t Random::next() {
  auto rotl = [](std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); };
  const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
  const std::uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = rotl(s_[3], 45);
  return result;
}

std::uint64_t Random::uniform(std::uint64_t n) {
  // Lemire's multiply-and-reject: unbiased, usually one multiplication.
  __uint128_t m = static_cast<__uint128_t>(next()) * n;
  auto low = static_cast<std::uint64_t>(m);
  if (low < n) {
    const std::uint64_t threshold = -n % n;
    while (low < threshold) {
      m = static_cast<__uint128_t>(next()) * n;
      low = static_cast<std::uint64_t>(m);
    }
  }
  return static_cast<std::uint64_t>(m >> 64);
}

bool Random::chance(double p) {
  if (p <= 0.0) return false;
  if (p >= 1.0) return true;
  return static_cast<double>(next() >> 11) * 0x1.0p-53 < p;
}

namespace {}  // namespace

std::size_t detail::fault_options(const PickContext& c, std::size_t* out) {
  std::size_t n = 0;
  if (!c.crashable) return 0;
  if (c.crash_enabled) out[n++] = Strategy::kCrash;
  for (std::size_t i = 0; i < c.faults.size(); ++i)
    if (c.faults_enabled.contains(c.faults[i])) out[n++] = c.enabled.size() + i;
  return n;
}

namespace {

using detail::fault_options;

// A fault, when the options ask for them, is drawn before the task: with the run's stream, so the
// seed decides both. With a single kind on offer (a crash, as before faults) no second draw is made.
std::size_t draw_fault(const PickContext& c) {
  std::size_t options[kFaultKinds];
  const std::size_t n = fault_options(c, options);
  if (n == 0 || !c.random.chance(c.crash_probability)) return Strategy::kNobody;
  return n == 1 ? options[0] : options[c.random.uniform(n)];
}

class RandomWalk final : public Strategy {
 public:
  std::string name() const override { return "random"; }
  std::size_t pick(const PickContext& c) override {
    if (auto f = draw_fault(c); f != kNobody) return f;
    if (c.enabled.empty()) return kNobody;
    return c.enabled.size() == 1 ? 0 : c.random.uniform(c.enabled.size());
  }
};

// PCT: every task gets a random priority at or above d; the highest-priority enabled task runs;
// at d-1 random steps within the first k, the task about to run drops below every initial
// priority. Finds any bug of depth d with probability at least 1/(n k^(d-1)).
class Pct final : public Strategy {
 public:
  Pct(std::uint32_t depth, std::uint64_t steps) : depth_(depth), steps_(steps) {}
  std::string name() const override { return "pct:" + std::to_string(depth_) + ":" + std::to_string(steps_); }
  void begin_run(Random& random) override {
    priority_.clear();
    change_.clear();
    for (std::uint32_t i = 1; i < depth_; ++i) change_.push_back(1 + random.uniform(steps_));
    std::sort(change_.begin(), change_.end());
  }
  std::size_t pick(const PickContext& c) override {
    if (auto f = draw_fault(c); f != kNobody) return f;
    if (c.enabled.empty()) return kNobody;
    for (auto task : c.enabled) {
      if (task >= priority_.size()) priority_.resize(task + 1, kUnset);
      if (priority_[task] == kUnset)
        priority_[task] = depth_ + static_cast<std::int64_t>(c.random.uniform(1u << 30));
    }
    std::size_t best = highest(c);
    for (std::size_t i = 0; i < change_.size(); ++i) {
      if (change_[i] == c.step) {
        priority_[c.enabled[best]] = static_cast<std::int64_t>(depth_) - 1 - static_cast<std::int64_t>(i);
        best = highest(c);
      }
    }
    return best;
  }

 private:
  static constexpr std::int64_t kUnset = std::numeric_limits<std::int64_t>::min();
  std::size_t highest(const PickContext& c) const {
    std::size_t best = 0;
    for (std::size_t i = 1; i < c.enabled.size(); ++i)
      if (priority_[c.enabled[i]] > priority_[c.enabled[best]]) best = i;
    return best;
  }
  std::uint32_t depth_;
  std::uint64_t steps_;
  std::vector<std::int64_t> priority_;
  std::vector<std::uint64_t> change_;
};

// Stateless DFS by re-execution: each run replays the current prefix of choices, then takes the
// first untried option at each new decision. Options are the running task first (no preemption),
// then the others in task order, then (where crash injection is on and the point is crashable) a
// crash of the arriving task and each fault the point offers; once the preemption budget is spent
// only the running task and the faults are options. When every option of every decision has been taken, the
// search is complete. Re-executing a prefix must offer the same choices at every step; if it does not, the
// code under test is not deterministic and the search says so (ScheduleDiverged) instead of guessing.
class BoundedDfs final : public Strategy {
 public:
  explicit BoundedDfs(std::int64_t bound) : bound_(bound) {}
  std::string name() const override { return bound_ < 0 ? "dfs" : "dfs:" + std::to_string(bound_); }
  bool exhaustive() const override { return true; }
  void begin_run(Random&) override {
    depth_ = 0;
    preemptions_ = 0;
  }
  std::size_t pick(const PickContext& c) override {
    std::size_t faults[kFaultKinds];
    if (c.enabled.empty() && fault_options(c, faults) == 0) return kNobody;
    if (depth_ == stack_.size()) {
      stack_.push_back(Frame{{c.enabled.begin(), c.enabled.end()}, c.current, options(c), 0});
    } else if (!same_choice(stack_[depth_], c)) {
      throw ScheduleDiverged("dfs re-executed its prefix and decision " + std::to_string(depth_ + 1) +
                             " (step " + std::to_string(c.step) + ", at " + std::string(c.point) +
                             ") offered other choices than the first time: the code under test is "
                             "not deterministic, so the search cannot be a proof");
    }
    Frame& f = stack_[depth_++];
    std::size_t pos = f.options[f.next];
    if (pos < c.enabled.size() && c.current >= 0 && pos != static_cast<std::size_t>(c.current))
      ++preemptions_;
    return pos;
  }
  bool end_run(std::uint64_t) override {
    stack_.resize(depth_);
    while (!stack_.empty() && stack_.back().next + 1 >= stack_.back().options.size()) stack_.pop_back();
    if (stack_.empty()) return false;
    ++stack_.back().next;
    return true;
  }

 private:
  struct Frame {
    std::vector<std::uint32_t> enabled;
    int current;
    std::vector<std::size_t> options;
    std::size_t next;
  };
  bool same_choice(const Frame& f, const PickContext& c) const {
    return f.current == c.current &&
           std::equal(f.enabled.begin(), f.enabled.end(), c.enabled.begin(), c.enabled.end()) &&
           f.options == options(c);
  }
  std::vector<std::size_t> options(const PickContext& c) const {
    std::vector<std::size_t> out;
    if (c.current >= 0) out.push_back(static_cast<std::size_t>(c.current));
    if (!(c.current >= 0 && bound_ >= 0 && preemptions_ >= bound_)) {
      for (std::size_t i = 0; i < c.enabled.size(); ++i)
        if (static_cast<int>(i) != c.current) out.push_back(i);
    }
    std::size_t faults[kFaultKinds];
    out.insert(out.end(), faults, faults + fault_options(c, faults));
    return out;
  }
  std::int64_t bound_;
  std::vector<Frame> stack_;
  std::size_t depth_ = 0;
  std::int64_t preemptions_ = 0;
};

template <class T>
bool parse_number(std::string_view s, T& out) {
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && ptr == s.data() + s.size() && !s.empty();
}

}  // namespace

namespace {
template <class Ptr, class Make>
Ptr build_strategy(std::string_view spec, Make make) {
  auto bad = [&](const std::string& why) {
    return StrategyError("racelab: strategy '" + std::string(spec) + "': " + why +
                         " (expected random, pct:<depth>[:<steps>] or dfs[:<preemptions>])");
  };
  if (spec == "random") return make.template operator()<RandomWalk>();
  if (spec == "dfs") return make.template operator()<BoundedDfs>(std::int64_t{-1});
  if (spec.starts_with("dfs:")) {
    std::int64_t bound = 0;
    if (!parse_number(spec.substr(4), bound) || bound < 0)
      throw bad("the preemption bound must be an integer >= 0");
    return make.template operator()<BoundedDfs>(bound);
  }
  if (spec.starts_with("pct:")) {
    auto rest = spec.substr(4);
    auto colon = rest.find(':');
    std::uint32_t depth = 0;
    std::uint64_t steps = 100;
    if (!parse_number(rest.substr(0, colon), depth) || depth < 1)
      throw bad("the depth must be an integer >= 1");
    if (colon != std::string_view::npos && (!parse_number(rest.substr(colon + 1), steps) || steps < 1))
      throw bad("the step estimate must be an integer >= 1");
    return make.template operator()<Pct>(depth, steps);
  }
  throw bad("unknown strategy");
}
}  // namespace

std::unique_ptr<Strategy> make_strategy(std::string_view spec) {
  return build_strategy<std::unique_ptr<Strategy>>(
      spec, []<class T>(auto... args) -> std::unique_ptr<Strategy> { return std::make_unique<T>(args...); });
}

std::shared_ptr<Strategy> detail::make_shared_strategy(std::string_view spec) {
  return build_strategy<std::shared_ptr<Strategy>>(
      spec, []<class T>(auto... args) -> std::shared_ptr<Strategy> { return std::make_shared<T>(args...); });
}

}  // namespace racelab
