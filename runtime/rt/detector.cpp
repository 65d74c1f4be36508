// The happens-before race detector (see detector.hpp for the model and its limits).
//
// Clocks: thread t's clock C_t has one epoch per thread; C_t[t] is t's own epoch, bumped after
// every release so that t's later accesses are not covered by what it published. A sync object's
// clock L_s is joined with C_t on release and joined into C_t on acquire. An access remembered as
// (u, e) happens before the current access of t when e <= C_t[u].
//
// Tables are mmap'ed (zeroed, lazily backed, no malloc): shadow memory, the stack store and its
// index. Sync clocks live in an unordered_map (malloc): they are few and touched only at sync.
#include "detector.hpp"

#include <sys/mman.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <limits>
#include <unordered_map>
#include <vector>

namespace racelab::rt::detector {

constinit thread_local ShadowStack t_stack;

namespace {

using Epoch = std::uint32_t;
constexpr Epoch kEpochMax = std::numeric_limits<Epoch>::max();
constexpr std::uint32_t kThreadsMax = wire::kMaxThreads;
constexpr std::uint64_t kPcMask = (std::uint64_t{1} << 48) - 1;  // user-space addresses fit in 48 bits

void* map_zeroed(std::size_t bytes) noexcept {
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  return p == MAP_FAILED ? nullptr : p;
}

void unmap(void* p, std::size_t bytes) noexcept {
  if (p != nullptr) munmap(p, bytes);
}

// --- threads ------------------------------------------------------------------------------------

struct ThreadState {
  Epoch clock[kThreadsMax];
  std::uint32_t ignore_reads;
  std::uint32_t ignore_writes;
  std::uint32_t ignore_sync;
  bool pending_start;  // thread_created set up its clock; thread_started must not start it afresh
};

ThreadState g_threads[kThreadsMax];
// Threads [0, g_bound) have been seen this run. Every clock's entries from g_bound on are zero, so
// joins stop there.
std::uint32_t g_bound = 0;

void tick(ThreadState& t, std::uint32_t tid) noexcept {
  if (t.clock[tid] != kEpochMax) ++t.clock[tid];
}

void join(Epoch* dst, const Epoch* src, std::size_t n) noexcept {
  for (std::size_t i = 0; i < n; ++i) dst[i] = std::max(dst[i], src[i]);
}

// Starts a (possibly reused) thread id: it knows what `parent` knows (nothing without one), and
// its own epoch continues past the last incarnation's so that incarnation's epochs stay distinct.
void begin_incarnation(std::uint32_t tid, const ThreadState* parent) noexcept {
  ThreadState& t = g_threads[tid];
  const Epoch last = std::max(t.clock[tid], parent != nullptr ? parent->clock[tid] : Epoch{0});
  g_bound = std::max(g_bound, tid + 1);
  for (std::uint32_t i = 0; i < g_bound; ++i) t.clock[i] = parent != nullptr ? parent->clock[i] : 0;
  t.clock[tid] = last == kEpochMax ? last : last + 1;
  t.ignore_reads = t.ignore_writes = t.ignore_sync = 0;
  t.pending_start = false;
}

// The calling thread's state, started on first use (main's first access may precede
// thread_started(0)); nullptr for an uncontrolled thread.
ThreadState* self(std::uint32_t& tid) noexcept {
  tid = current_tid();
  if (tid >= kThreadsMax) return nullptr;
  ThreadState& t = g_threads[tid];
  if (t.clock[tid] == 0) begin_incarnation(tid, nullptr);
  return &t;
}

// --- sync objects -------------------------------------------------------------------------------

using SyncMap = std::unordered_map<std::uint64_t, std::vector<Epoch>>;
SyncMap* g_syncs = nullptr;  // created on first release, never destroyed (exit may race with use)

SyncMap& syncs() {
  if (g_syncs == nullptr) g_syncs = new SyncMap;
  return *g_syncs;
}

// --- stacks -------------------------------------------------------------------------------------

// A trie of frames: node = (parent node, call site), node 0 the empty stack. A stack id is the node
// of its innermost call site; the access pc is kept beside it in the shadow cell.
class StackStore {
 public:
  std::uint32_t intern(std::uint32_t parent, std::uint64_t pc) noexcept {
    if (nodes_ == nullptr && !init()) return parent;
    std::uint64_t i = hash(parent, pc) & (index_capacity_ - 1);
    for (;; i = (i + 1) & (index_capacity_ - 1)) {
      const std::uint32_t id = index_[i];
      if (id == 0) break;
      if (nodes_[id].pc == pc && nodes_[id].parent == parent) return id;
    }
    if (count_ >= kStackNodesMax) return parent;  // full: the stack is cut short here
    const std::uint32_t id = count_++;
    nodes_[id] = {pc, parent, 0};
    index_[i] = id;
    if (std::uint64_t{count_} * 2 > index_capacity_) grow_index();
    return id;
  }

  // pc, then the call sites of stack `id`, innermost first.
  void resolve(std::uint64_t pc, std::uint32_t id, std::vector<std::uint64_t>& out) const {
    out.push_back(pc);
    for (std::uint32_t n = 0; id != 0 && id < count_ && n < kStackDepthMax; ++n) {
      out.push_back(nodes_[id].pc);
      id = nodes_[id].parent;
    }
  }

  void clear() noexcept {
    unmap(nodes_, kNodesBytes);
    unmap(index_, index_capacity_ * sizeof(std::uint32_t));
    nodes_ = nullptr;
    index_ = nullptr;
    count_ = 1;
    index_capacity_ = 0;
  }

  std::uint32_t size() const noexcept { return count_ - 1; }

 private:
  struct Node {
    std::uint64_t pc;
    std::uint32_t parent;
    std::uint32_t pad;
  };
  static constexpr std::size_t kNodesBytes = std::size_t{kStackNodesMax} * sizeof(Node);
  static constexpr std::uint64_t kIndexInitial = 1 << 12;

  static std::uint64_t hash(std::uint64_t parent, std::uint64_t pc) noexcept {
    return ((pc ^ (parent << 40) ^ (parent >> 24)) * 0x9E37'79B9'7F4A'7C15ULL) >> 20;
  }

  bool init() noexcept {
    nodes_ = static_cast<Node*>(map_zeroed(kNodesBytes));  // reserved, backed as frames arrive
    index_ = static_cast<std::uint32_t*>(map_zeroed(kIndexInitial * sizeof(std::uint32_t)));
    if (nodes_ == nullptr || index_ == nullptr) {
      clear();
      return false;
    }
    index_capacity_ = kIndexInitial;
    return true;
  }

  void grow_index() noexcept {
    const std::uint64_t capacity = index_capacity_ * 2;
    auto* index = static_cast<std::uint32_t*>(map_zeroed(capacity * sizeof(std::uint32_t)));
    if (index == nullptr) return;  // stays at half load and above: slower, still correct
    for (std::uint32_t id = 1; id < count_; ++id) {
      std::uint64_t i = hash(nodes_[id].parent, nodes_[id].pc) & (capacity - 1);
      while (index[i] != 0) i = (i + 1) & (capacity - 1);
      index[i] = id;
    }
    unmap(index_, index_capacity_ * sizeof(std::uint32_t));
    index_ = index;
    index_capacity_ = capacity;
  }

  Node* nodes_ = nullptr;
  std::uint32_t* index_ = nullptr;
  std::uint32_t count_ = 1;
  std::uint64_t index_capacity_ = 0;
};

constinit StackStore g_stacks;
// Bumped by reset: a thread's cached frame ids (ShadowStack::ids) from an older store are stale.
std::uint32_t g_generation = 1;

std::uint32_t current_stack() noexcept {
  ShadowStack& s = t_stack;
  if (s.generation != g_generation) {
    s.generation = g_generation;
    s.interned = 0;
  }
  const std::uint32_t n = std::min(s.depth, kStackDepthMax);
  for (; s.interned < n; ++s.interned) {
    const std::uint32_t parent = s.interned == 0 ? 0 : s.ids[s.interned - 1];
    s.ids[s.interned] = g_stacks.intern(parent, s.pcs[s.interned]);
  }
  return n == 0 ? 0 : s.ids[n - 1];
}

// --- shadow memory ------------------------------------------------------------------------------

// One remembered access, 16 bytes: word = pc | tid << 48 | byte mask << 56 (mask 0: empty cell);
// info = stack id | write << 30 | atomic << 31.
struct Cell {
  std::uint64_t word;
  Epoch epoch;
  std::uint32_t info;

  std::uint64_t pc() const noexcept { return word & kPcMask; }
  std::uint32_t tid() const noexcept { return static_cast<std::uint32_t>(word >> 48) & 0xff; }
  std::uint32_t mask() const noexcept { return static_cast<std::uint32_t>(word >> 56); }
  std::uint32_t stack() const noexcept { return info & 0x3fff'ffff; }
  bool write() const noexcept { return (info >> 30) & 1; }
  bool atomic() const noexcept { return info >> 31; }
};

// One 8-byte granule: a cache line. key = granule index + 1 (0: free slot).
struct alignas(64) Granule {
  std::uint64_t key;
  std::uint32_t victim;  // round-robin eviction when all cells are taken
  std::uint32_t pad;
  Cell cells[3];
};
static_assert(sizeof(Granule) == 64);

// Open addressing, linear probing, grown at half load up to 2 * kShadowGranulesMax slots; reaching
// kShadowGranulesMax granules flushes it whole (missed races, never false ones).
class Shadow {
 public:
  Granule* find_or_insert(std::uint64_t key) noexcept {
    if (slots_ == nullptr && !allocate(kInitial)) return nullptr;
    for (std::uint64_t i = key * kMul >> shift_;; i = (i + 1) & (capacity_ - 1)) {
      Granule& g = slots_[i];
      if (g.key == key) return &g;
      if (g.key != 0) continue;
      if ((used_ + 1) * 2 > capacity_) {
        if (!make_room()) return nullptr;
        return find_or_insert(key);
      }
      g.key = key;
      ++used_;
      return &g;
    }
  }

  Granule* find(std::uint64_t key) noexcept {
    if (slots_ == nullptr) return nullptr;
    for (std::uint64_t i = key * kMul >> shift_;; i = (i + 1) & (capacity_ - 1)) {
      if (slots_[i].key == key) return &slots_[i];
      if (slots_[i].key == 0) return nullptr;
    }
  }

  void clear() noexcept {
    unmap(slots_, capacity_ * sizeof(Granule));
    slots_ = nullptr;
    capacity_ = used_ = 0;
  }

  std::uint64_t size() const noexcept { return used_; }
  std::uint64_t flushes() const noexcept { return flushes_; }
  void reset_flushes() noexcept { flushes_ = 0; }

 private:
  static constexpr std::uint64_t kMul = 0x9E37'79B9'7F4A'7C15ULL;
  static constexpr std::uint64_t kInitial = 1 << 12;  // 256 KiB

  bool allocate(std::uint64_t capacity) noexcept {
    slots_ = static_cast<Granule*>(map_zeroed(capacity * sizeof(Granule)));
    if (slots_ == nullptr) return false;
    capacity_ = capacity;
    shift_ = 64 - static_cast<std::uint32_t>(std::countr_zero(capacity));
    used_ = 0;
    return true;
  }

  bool make_room() noexcept {
    if (capacity_ >= 2 * kShadowGranulesMax) {
      clear();
      ++flushes_;
      return allocate(kInitial);
    }
    Granule* old = slots_;
    const std::uint64_t old_capacity = capacity_;
    if (!allocate(capacity_ * 2)) {
      slots_ = old;  // keep the old table; the access is simply not remembered
      capacity_ = old_capacity;
      shift_ = 64 - static_cast<std::uint32_t>(std::countr_zero(old_capacity));
      return false;
    }
    for (std::uint64_t j = 0; j < old_capacity; ++j) {
      if (old[j].key == 0) continue;
      std::uint64_t i = old[j].key * kMul >> shift_;
      while (slots_[i].key != 0) i = (i + 1) & (capacity_ - 1);
      slots_[i] = old[j];
      ++used_;
    }
    unmap(old, old_capacity * sizeof(Granule));
    return true;
  }

  Granule* slots_ = nullptr;
  std::uint64_t capacity_ = 0;
  std::uint32_t shift_ = 0;
  std::uint64_t used_ = 0;
  std::uint64_t flushes_ = 0;
};

constinit Shadow g_shadow;

// --- reports ------------------------------------------------------------------------------------

struct Access {
  std::uint64_t pc;
  std::uint32_t tid;
  Epoch epoch;
  std::uint32_t stack;
  bool write;
  bool atomic;
  std::uint32_t size;
};

struct Range {
  std::uint64_t begin;
  std::uint64_t end;
};
constexpr std::uint32_t kBenignMax = 256;
Range g_benign[kBenignMax];
std::uint32_t g_benign_count = 0;

// (current pc, previous pc) pairs reported this run: a racy loop reports once, not per iteration.
// report_race deduplicates too; this only saves building the reports. Full at 3/4: then every
// race goes through.
struct PcPair {
  std::uint64_t current;
  std::uint64_t previous;
};
constexpr std::uint32_t kReportedCapacity = 4096;
PcPair g_reported[kReportedCapacity];
std::uint32_t g_reported_count = 0;
std::uint64_t g_races = 0;

bool first_report(std::uint64_t current, std::uint64_t previous) noexcept {
  std::uint32_t i = static_cast<std::uint32_t>((current * 31 + previous) * 0x9E37'79B9'7F4A'7C15ULL >> 52);
  for (;; i = (i + 1) % kReportedCapacity) {
    PcPair& p = g_reported[i];
    if (p.current == current && p.previous == previous) return false;
    if (p.current == 0 && p.previous == 0) break;
  }
  if (g_reported_count * 4 < kReportedCapacity * 3) {
    g_reported[i] = {current, previous};
    ++g_reported_count;
  }
  return true;
}

bool benign(std::uint64_t addr) noexcept {
  for (std::uint32_t i = 0; i < g_benign_count; ++i) {
    if (addr >= g_benign[i].begin && addr < g_benign[i].end) return true;
  }
  return false;
}

[[gnu::cold, gnu::noinline]] void report(const Access& a, std::uint64_t granule, std::uint32_t overlap,
                                         const Cell& c) noexcept {
  const std::uint64_t addr = granule * 8 + static_cast<std::uint64_t>(std::countr_zero(overlap));
  if (benign(addr) || !first_report(a.pc, c.pc())) return;
  Race race;
  race.addr = addr;
  race.current = {a.tid, a.write, a.atomic, a.size, {}};
  g_stacks.resolve(a.pc, a.stack, race.current.stack);
  race.previous = {c.tid(), c.write(), c.atomic(), static_cast<std::uint32_t>(std::popcount(c.mask())), {}};
  g_stacks.resolve(c.pc(), c.stack(), race.previous.stack);
  ++g_races;
  report_race(race);
}

// --- the access check ---------------------------------------------------------------------------

// Checks `a` on the bytes `mask` of `granule`, then remembers it: unless a cell of the same epoch
// already covers it, it replaces the cells it subsumes (ordered before it, bytes within its bytes,
// a write replacing reads too, an atomic replacing only atomics); any later access that would race
// with a replaced cell races with `a` as well.
void check_granule(const ThreadState& t, const Access& a, std::uint64_t granule,
                   std::uint32_t mask) noexcept {
  Granule* g = g_shadow.find_or_insert(granule + 1);
  if (g == nullptr) return;
  Cell* slot = nullptr;
  bool covered = false;
  for (Cell& c : g->cells) {
    const std::uint32_t cmask = c.mask();
    if (cmask == 0) {
      if (slot == nullptr) slot = &c;
      continue;
    }
    if ((cmask & mask) == 0) continue;
    const std::uint32_t ctid = c.tid();
    if (ctid != a.tid && c.epoch > t.clock[ctid]) {  // concurrent
      if ((c.write() || a.write) && !(c.atomic() && a.atomic)) report(a, granule, cmask & mask, c);
      continue;
    }
    if (ctid == a.tid && c.epoch == a.epoch && (cmask & mask) == mask && (c.write() || !a.write) &&
        (!c.atomic() || a.atomic)) {
      covered = true;
    } else if ((cmask & ~mask) == 0 && (a.write || !c.write()) && (!a.atomic || c.atomic())) {
      c.word = 0;
      if (slot == nullptr) slot = &c;
    }
  }
  if (covered) return;
  if (slot == nullptr) slot = &g->cells[g->victim++ % 3];
  slot->word = a.pc | std::uint64_t{a.tid} << 48 | std::uint64_t{mask} << 56;
  slot->epoch = a.epoch;
  slot->info = a.stack | std::uint32_t{a.write} << 30 | std::uint32_t{a.atomic} << 31;
}

// Calls f(granule, byte mask) for each granule of [addr, addr + min(size, kRangeBytesMax)).
template <class F>
void for_each_granule(const void* addr, std::size_t size, F&& f) noexcept {
  const auto begin = reinterpret_cast<std::uintptr_t>(addr);
  const std::uintptr_t end = begin + std::min(size, kRangeBytesMax);
  if (end <= begin) return;  // empty, or wraps around the address space
  for (std::uintptr_t lo = begin; lo < end;) {
    const std::uintptr_t next = (lo | 7) + 1;
    const std::uintptr_t hi = std::min(end, next);
    const auto bytes = static_cast<std::uint32_t>(hi - lo);
    f(std::uint64_t{lo >> 3}, ((1u << bytes) - 1) << (lo & 7));
    lo = hi;
  }
}

}  // namespace

void on_access(std::uint64_t pc, const void* addr, std::size_t size, bool write, bool atomic) noexcept {
  std::uint32_t tid;
  ThreadState* t = self(tid);
  if (t == nullptr || (write ? t->ignore_writes : t->ignore_reads) != 0) return;
  const Access a{
      pc & kPcMask,
      tid,
      t->clock[tid],
      current_stack(),
      write,
      atomic,
      static_cast<std::uint32_t>(std::min<std::size_t>(size, std::numeric_limits<std::uint32_t>::max()))};
  for_each_granule(addr, size,
                   [&](std::uint64_t granule, std::uint32_t mask) { check_granule(*t, a, granule, mask); });
}

void ignore_begin(Ignore what) noexcept {
  std::uint32_t tid;
  ThreadState* t = self(tid);
  if (t == nullptr) return;
  const auto bits = static_cast<std::uint32_t>(what);
  if (bits & static_cast<std::uint32_t>(Ignore::reads)) ++t->ignore_reads;
  if (bits & static_cast<std::uint32_t>(Ignore::writes)) ++t->ignore_writes;
  if (bits & static_cast<std::uint32_t>(Ignore::sync)) ++t->ignore_sync;
}

void ignore_end(Ignore what) noexcept {
  std::uint32_t tid;
  ThreadState* t = self(tid);
  if (t == nullptr) return;
  const auto bits = static_cast<std::uint32_t>(what);
  // An unmatched end is the program's bug; it must not wrap the counter into "ignore forever".
  if ((bits & static_cast<std::uint32_t>(Ignore::reads)) && t->ignore_reads != 0) --t->ignore_reads;
  if ((bits & static_cast<std::uint32_t>(Ignore::writes)) && t->ignore_writes != 0) --t->ignore_writes;
  if ((bits & static_cast<std::uint32_t>(Ignore::sync)) && t->ignore_sync != 0) --t->ignore_sync;
}

void benign_range(const void* addr, std::size_t size) noexcept {
  if (g_benign_count == kBenignMax || size == 0) return;
  const auto begin = reinterpret_cast<std::uint64_t>(addr);
  g_benign[g_benign_count++] = {begin, begin + size < begin ? ~std::uint64_t{0} : begin + size};
}

void forget_range(const void* addr, std::size_t size) noexcept {
  for_each_granule(addr, size, [](std::uint64_t granule, std::uint32_t mask) {
    Granule* g = g_shadow.find(granule + 1);
    if (g == nullptr) return;
    for (Cell& c : g->cells) {
      const std::uint32_t left = c.mask() & ~mask;
      c.word = left == 0 ? 0 : (c.word & ~(std::uint64_t{0xff} << 56)) | std::uint64_t{left} << 56;
    }
  });
}

Stats stats() noexcept {
  return {g_shadow.size(), g_shadow.flushes(), g_stacks.size(),
          static_cast<std::uint32_t>(g_syncs == nullptr ? 0 : g_syncs->size()), g_races};
}

// --- the hooks runtime.hpp declares -------------------------------------------------------------

void thread_created(std::uint32_t child) noexcept {
  std::uint32_t tid;
  ThreadState* parent = self(tid);
  if (parent == nullptr || child >= kThreadsMax || child == tid) return;
  begin_incarnation(child, parent);
  g_threads[child].pending_start = true;
  tick(*parent, tid);  // what the parent does next is not ordered before the child
}

void thread_started(std::uint32_t tid) noexcept {
  if (tid >= kThreadsMax) return;
  ThreadState& t = g_threads[tid];
  if (t.pending_start) {
    t.pending_start = false;
  } else {
    begin_incarnation(tid, nullptr);  // main at run start, or a thread whose creation went unseen
  }
}

// Nothing to publish: thread_joined reads the finished thread's clock as it stands, and the id is
// not reused before that (a reuse would start past this incarnation's epochs anyway).
void thread_finished() noexcept {}

void thread_joined(std::uint32_t joined) noexcept {
  std::uint32_t tid;
  ThreadState* t = self(tid);
  if (t == nullptr || joined >= kThreadsMax || joined == tid) return;
  join(t->clock, g_threads[joined].clock, g_bound);
}

void acquire(const void* sync) noexcept {
  std::uint32_t tid;
  ThreadState* t = self(tid);
  if (t == nullptr || t->ignore_sync != 0 || g_syncs == nullptr) return;
  const auto it = g_syncs->find(reinterpret_cast<std::uint64_t>(sync));
  if (it == g_syncs->end()) return;  // never released: nothing to learn
  join(t->clock, it->second.data(), it->second.size());
}

void release(const void* sync) noexcept {
  std::uint32_t tid;
  ThreadState* t = self(tid);
  if (t == nullptr || t->ignore_sync != 0) return;
  std::vector<Epoch>& clock = syncs()[reinterpret_cast<std::uint64_t>(sync)];
  if (clock.size() < g_bound) clock.resize(g_bound, 0);
  join(clock.data(), t->clock, g_bound);
  tick(*t, tid);
}

// Benign ranges survive: they describe the program and are often registered by static
// constructors, in the fork server, before the run's reset.
void reset() noexcept {
  std::memset(g_threads, 0, sizeof(ThreadState) * g_bound);
  g_bound = 0;
  g_shadow.clear();
  g_shadow.reset_flushes();
  g_stacks.clear();
  ++g_generation;
  if (g_syncs != nullptr) g_syncs->clear();
  std::memset(g_reported, 0, sizeof g_reported);
  g_reported_count = 0;
  g_races = 0;
}

}  // namespace racelab::rt::detector
