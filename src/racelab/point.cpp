// The point registry and the slow path of a point. See racelab/point.hpp.
#include "racelab/point.hpp"

#include <pthread.h>

#include <algorithm>
#include <map>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "racelab/detail/hooks_state.hpp"
#include "racelab/detail/point_sink.hpp"
#include "racelab/detail/point_state.hpp"
#include "racelab/observe.hpp"
#include "racelab/sim/simulation.hpp"

namespace racelab {
namespace detail {
namespace {

// Head of the intrusive list of every call site. Constant-initialised, so sites registering from
// static initialisers in any order always find it ready. Sites are never removed.
constinit std::atomic<Site*> g_sites{nullptr};

thread_local std::string t_label;
// The innermost live PointLog the running code (this thread, or the task running on it) opened,
// and where that code's points go when it opened none. See detail/point_state.hpp.
thread_local PointLog* t_point_log = nullptr;
thread_local PointLog* t_fallback_point_log = nullptr;
thread_local PointSink* t_point_sink = nullptr;  // the scheduler running code on this thread, if any
std::atomic<std::uint32_t> g_next_thread_number{1};
thread_local std::uint32_t t_thread_arms = 0;  // arm_thread() calls not yet disarmed

// Hit counts, per thread: a thread's table is written by that thread alone (a relaxed load and
// store, no read-modify-write), so explore()'s workers passing the same points never write a line
// another core reads. points() reads the live tables under g_hits_mu; a table's array is replaced
// (grown) only by its thread, under g_hits_mu; an exiting thread adds its counts to the sites.
constinit std::atomic<std::uint32_t> g_site_count{0};
std::mutex g_hits_mu;
class HitTable;
std::vector<HitTable*>& live_tables() {  // under g_hits_mu; leaked: threads may exit after main
  static auto* tables = new std::vector<HitTable*>();
  return *tables;
}
thread_local bool t_hits_gone = false;  // this thread's table was destroyed (thread exit)

class HitTable {
 public:
  HitTable() {
    std::lock_guard lock(g_hits_mu);
    live_tables().push_back(this);
  }
  ~HitTable() {
    std::lock_guard lock(g_hits_mu);
    for (Site* site = g_sites.load(std::memory_order_acquire); site != nullptr; site = site->next)
      if (site->index < size_) site->hits.fetch_add(counts_[site->index].load(std::memory_order_relaxed));
    auto& tables = live_tables();
    tables.erase(std::find(tables.begin(), tables.end(), this));
    t_hits_gone = true;
  }
  HitTable(const HitTable&) = delete;
  HitTable& operator=(const HitTable&) = delete;

  void hit(std::uint32_t index) {
    if (index >= size_) grow(index + 1);
    auto& count = counts_[index];
    count.store(count.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }
  std::uint64_t count(std::uint32_t index) const {  // under g_hits_mu
    return index < size_ ? counts_[index].load(std::memory_order_relaxed) : 0;
  }

 private:
  void grow(std::size_t wanted) {
    const std::size_t size = std::max<std::size_t>({wanted, 2 * size_, 64});
    auto counts = std::make_unique<std::atomic<std::uint64_t>[]>(size);
    for (std::size_t i = 0; i < size_; ++i) counts[i].store(counts_[i].load(std::memory_order_relaxed));
    std::lock_guard lock(g_hits_mu);
    counts_.swap(counts);
    size_ = size;
  }
  std::unique_ptr<std::atomic<std::uint64_t>[]> counts_;
  std::size_t size_ = 0;
};
thread_local HitTable t_hits;

// A fork while another thread holds g_hits_mu (growing its table, exiting) would leave the child's
// copy locked for ever: the fork waits for it, and the child starts with it unlocked.
[[maybe_unused]] const int g_hits_fork_safe =
    pthread_atfork([] { g_hits_mu.lock(); }, [] { g_hits_mu.unlock(); }, [] { g_hits_mu.unlock(); });

}  // namespace

void register_site(Site& site) noexcept {
  site.index = g_site_count.fetch_add(1, std::memory_order_relaxed);
  Site* head = g_sites.load(std::memory_order_relaxed);
  do {
    site.next = head;
  } while (!g_sites.compare_exchange_weak(head, &site, std::memory_order_release, std::memory_order_relaxed));
}

Site& intern_site(std::string_view name, const char* file, int line) {
  // Interned sites live as long as the process: the trace and schedule keep views of their names.
  static std::mutex mu;
  static auto* by_name = new std::map<std::string, Site*, std::less<>>();
  std::lock_guard lk(mu);
  if (auto it = by_name->find(name); it != by_name->end()) return *it->second;
  // The map's key owns the name (map nodes never move), so the site's view of it stays valid and
  // everything stays reachable from `by_name` (no leak reported by LeakSanitizer).
  auto it = by_name->emplace(std::string(name), nullptr).first;
  it->second = new Site{it->first.c_str(), file, line};
  register_site(*it->second);
  return *it->second;
}

PointLog* exchange_point_log(PointLog* log) noexcept { return std::exchange(t_point_log, log); }

PointLog* exchange_fallback_point_log(PointLog* log) noexcept {
  return std::exchange(t_fallback_point_log, log);
}

PointSink* exchange_point_sink(PointSink* sink) noexcept {
  PointSink* previous = t_point_sink;
  t_point_sink = sink;
  return previous;
}

void arm() noexcept { g_armed.fetch_add(1, std::memory_order_relaxed); }
void disarm() noexcept { g_armed.fetch_sub(1, std::memory_order_relaxed); }
void arm_thread() noexcept {
  if (t_thread_arms++ == 0) arm();
}
void disarm_thread() noexcept {
  if (--t_thread_arms == 0) disarm();
}

namespace {

void count(Site& site) {
  if (!t_hits_gone && site.index != Site::kUnregistered)
    t_hits.hit(site.index);
  else
    site.hits.fetch_add(1, std::memory_order_relaxed);
  if (PointLog* log = t_point_log != nullptr ? t_point_log : t_fallback_point_log) log->record(site.name);
}

}  // namespace

void fire(Site& site) {
  count(site);
  // Inside a simulated task the scheduler owns the interleaving; real-thread hooks (barriers,
  // delays) would only stall the one thread every task runs on, so they do not apply there.
  if (PointSink* sink = t_point_sink) {
    sink->on_point(site.name);
    return;
  }
  // A plain point can only crash: a Hooks::fault(point, Fault::crash) armed here.
  if (run_point_hooks(site.name, FaultSet{Fault::crash})) throw InjectedCrash(site.name);
}

std::optional<Fault> fire_or_fault(Site& site, FaultSet offered) {
  count(site);
  if (PointSink* sink = t_point_sink) return sink->on_fault_point(site.name, offered);
  auto fault = run_point_hooks(site.name, offered.with(Fault::crash));
  if (fault == Fault::crash) throw InjectedCrash(site.name);
  return fault;
}

}  // namespace detail

std::vector<PointInfo> points() {
  std::map<std::string_view, PointInfo> by_name;
  std::lock_guard lock(detail::g_hits_mu);
  for (auto* site = detail::g_sites.load(std::memory_order_acquire); site != nullptr; site = site->next) {
    auto [it, fresh] = by_name.try_emplace(site->name);
    PointInfo& info = it->second;
    if (fresh) {
      info.name = site->name;
      info.file = site->file;
      info.line = site->line;
      info.sites = 0;
    }
    ++info.sites;
    info.hits += site->hits.load(std::memory_order_relaxed);
    for (const detail::HitTable* table : detail::live_tables()) info.hits += table->count(site->index);
  }
  std::vector<PointInfo> out;
  out.reserve(by_name.size());
  for (auto& [name, info] : by_name) out.push_back(std::move(info));
  return out;
}

void set_thread_label(std::string label) { detail::t_label = std::move(label); }

const std::string& thread_label() {
  if (detail::t_label.empty()) {
    detail::t_label =
        "thread-" + std::to_string(detail::g_next_thread_number.fetch_add(1, std::memory_order_relaxed));
  }
  return detail::t_label;
}

PointLog::PointLog() : previous_(detail::t_point_log) {
  detail::t_point_log = this;
  detail::arm();
}

PointLog::~PointLog() {
  detail::disarm();
  detail::t_point_log = previous_;
}

void PointLog::record(std::string_view point) {
  entries_.push_back({point, std::chrono::steady_clock::now()});
}

}  // namespace racelab
