// racelab_rt's inside: what the ThreadSanitizer entry points (tsan_abi.cpp) and the race detector
// (detector.cpp) need from the part that talks to the driver (channel.cpp, interpose.cpp).
//
// Nothing here is instrumented, and nothing here may call an interposed function of its own
// (a pthread mutex, a sleep): racelab_rt runs on the program's threads, one at a time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "protocol.hpp"

namespace racelab::rt {

// True while this process runs a schedule for the driver (a forked run, before main returns).
// False in the fork server, in a program started without `racelab run`, and during exit.
extern bool g_controlled;
// The race detector is on in this run (the driver's first phase, or --races on every run).
extern bool g_detect;
// Every instrumented access is a scheduling point (--points all-accesses).
extern bool g_all_accesses;
// Racy instructions from earlier runs are scheduling points in this one (see is_point_pc).
extern std::uint32_t g_point_pc_count;

// The calling thread's id in the run (0 for main), or wire::kNoTid when the thread is not under
// control (the fork server, a thread that is exiting).
std::uint32_t current_tid() noexcept;

// True when `pc` (an instruction address in the program) is a scheduling point in this run.
bool is_point_pc(std::uint64_t pc) noexcept;

// A scheduling point before an access or an atomic operation: returns when the driver runs this
// thread again. `op` is wire::Op::read, write or atomic_op.
void access_point(wire::Op op, std::uint64_t pc, const void* addr, std::uint64_t arg) noexcept;

// One side of a race: who accessed, how, where (innermost frame first: the access's pc, then the
// call sites from __tsan_func_entry).
struct RaceAccess {
  std::uint32_t tid = 0;
  bool write = false;
  bool atomic = false;
  std::uint32_t size = 0;
  std::vector<std::uint64_t> stack;
};

struct Race {
  std::uint64_t addr = 0;
  RaceAccess current;   // the access that found the race
  RaceAccess previous;  // the earlier access it races with
};

// Sends a race to the driver (deduplicated by the pair of pcs within a run).
void report_race(const Race& race) noexcept;

// The race detector's hooks, called by the rest of the runtime (detector.cpp implements them).
// Each happens-before edge goes through a sync object named by its address.
namespace detector {
void thread_created(std::uint32_t child) noexcept;  // on the parent, in pthread_create
void thread_started(std::uint32_t tid) noexcept;    // on the new thread (tid 0: main, at run start)
void thread_finished() noexcept;                    // on the thread, as its function returns
void thread_joined(std::uint32_t joined) noexcept;  // on the joiner, after the join
void acquire(const void* sync) noexcept;            // after lock, wait, join-like operations
void release(const void* sync) noexcept;            // before unlock, post, signal
void reset() noexcept;                              // a new run begins (in the forked child)
}  // namespace detector

}  // namespace racelab::rt
