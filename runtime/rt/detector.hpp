// The race detector's inside: the access check and the shadow call stack that tsan_abi.cpp
// drives, beside the lifecycle and sync hooks that runtime.hpp declares for the rest of the runtime.
//
// A happens-before detector in the FastTrack style: every thread has a vector clock, every sync
// object (a mutex, an atomic, an annotation address) a clock joined on release and read on acquire;
// every 8-byte granule of memory remembers a few recent accesses, and an access races with a
// remembered one when they overlap, come from different threads, one writes, they are not both
// atomic and the remembered one is not ordered before it.
//
//   detector::thread_started(0);
//   detector::func_entry(call_site);                       // __tsan_func_entry
//   detector::on_access(pc, &x, 4, /*write=*/true, false);  // __tsan_write4
//   detector::release(&m);  ...  detector::acquire(&m);      // unlock ... lock on another thread
//   detector::func_exit();
//
// Who may call: only program threads, and only one at a time (the driver runs one thread at a
// time), so nothing here locks. The thread is current_tid(); a call from an uncontrolled thread
// (wire::kNoTid) does nothing.
//
// Limits, each a deliberate trade of missed races (never false ones) for bounded cost:
// - A granule remembers 3 accesses; a fourth evicts one (round robin per granule).
// - At most kShadowGranulesMax granules are remembered; beyond that the shadow is flushed whole.
// - A range access checks its first kRangeBytesMax bytes only.
// - Call stacks keep the outermost kStackDepthMax frames; the stack store keeps kStackNodesMax
//   distinct (caller, call site) frames, beyond which stacks are cut short.
// - Memory reuse: malloc (memory.cpp) forgets the block it hands out, and AnnotateNewMemory
//   (tsan_abi.cpp) a range, so a block freed by one thread and reused by another is no false race.
//   free itself is not intercepted.
// - A thread's epoch is 32 bits and saturates: after 2^32 - 1 releases on one thread in one run,
//   its later accesses look ordered to anyone who synchronised with it since.
#pragma once

#include <cstddef>
#include <cstdint>

#include "runtime.hpp"

namespace racelab::rt::detector {

inline constexpr std::uint32_t kStackDepthMax = 256;
inline constexpr std::size_t kRangeBytesMax = 4096;
inline constexpr std::uint64_t kShadowGranulesMax = std::uint64_t{1} << 20;
inline constexpr std::uint32_t kStackNodesMax = std::uint32_t{1} << 22;

// One OS thread's call stack, pushed by __tsan_func_entry and popped by __tsan_func_exit. Always
// maintained (also outside a run) so that entries and exits stay paired when control begins in the
// middle of a call. ids[] caches the interned stack of each frame: an access interns only the
// frames pushed since the last one (usually none, or one).
struct ShadowStack {
  std::uint32_t depth = 0;       // calls in progress, including any beyond kStackDepthMax
  std::uint32_t interned = 0;    // ids[0, interned) are valid, always <= min(depth, kStackDepthMax)
  std::uint32_t generation = 0;  // the stack store's generation ids[] belong to (see reset)
  std::uint32_t pad = 0;
  std::uint64_t pcs[kStackDepthMax] = {};  // call sites, outermost first
  std::uint32_t ids[kStackDepthMax] = {};
};

// initial-exec: the runtime is linked into the program (never dlopen'ed), so its TLS is static and
// an access is one %fs-relative load instead of a __tls_get_addr call.
[[gnu::visibility("hidden"),
  gnu::tls_model("initial-exec")]] extern constinit thread_local ShadowStack t_stack;

inline void func_entry(std::uint64_t call_pc) noexcept {
  ShadowStack& s = t_stack;
  if (s.depth < kStackDepthMax) s.pcs[s.depth] = call_pc;
  ++s.depth;
}

inline void func_exit() noexcept {
  ShadowStack& s = t_stack;
  if (s.depth == 0) return;  // an exit without its entry (control began inside the call)
  --s.depth;
  if (s.interned > s.depth) s.interned = s.depth;
}

// Checks one access by the calling thread against the accesses remembered for its bytes, reports
// each race through report_race, then remembers it. `size` may be anything (ranges, 16-byte and
// unaligned accesses are split per granule).
[[gnu::visibility("hidden")]] void on_access(std::uint64_t pc, const void* addr, std::size_t size, bool write,
                                             bool atomic) noexcept;

// What a thread ignores between ignore_begin and the matching ignore_end (the calls nest).
enum class Ignore : std::uint32_t { reads = 1, writes = 2, accesses = 3, sync = 4 };
[[gnu::visibility("hidden")]] void ignore_begin(Ignore what) noexcept;
[[gnu::visibility("hidden")]] void ignore_end(Ignore what) noexcept;

// Races on [addr, addr + size) are not reported (AnnotateBenignRaceSized). Up to 256 ranges; they
// describe the program, not the run, so reset keeps them.
[[gnu::visibility("hidden")]] void benign_range(const void* addr, std::size_t size) noexcept;

// Forgets the accesses remembered for [addr, addr + size) (memory that is new again). Ranges
// longer than kRangeBytesMax are forgotten granule by granule up to that bound.
[[gnu::visibility("hidden")]] void forget_range(const void* addr, std::size_t size) noexcept;

// Counters for tests and the benchmark.
struct Stats {
  std::uint64_t granules = 0;        // granules remembered now
  std::uint64_t shadow_flushes = 0;  // times the shadow reached kShadowGranulesMax
  std::uint32_t stack_nodes = 0;     // frames in the stack store
  std::uint32_t sync_objects = 0;
  std::uint64_t races = 0;  // report_race calls this run
};
[[gnu::visibility("hidden")]] Stats stats() noexcept;

}  // namespace racelab::rt::detector
