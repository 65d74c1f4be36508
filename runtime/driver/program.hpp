// The driver's end of the wire: starts a program's fork server under racelab_rt, forks one
// process per run, waits for the running thread's requests and hands out replies.
//
// The handoff (protocol.hpp, Slot): when the driver and the program have CPUs of their own
// (ProgramSpec::pin_cpu, two CPUs or more), each side spins for a few µs on the slot's state word
// before it sleeps on it, so a point where the same thread goes on costs no system call; replying
// to another thread first parks the one that ran, so that it sleeps at once and leaves the
// program's CPU to the next. Each side wakes the word only when the other said it sleeps. When
// that does not pay (the driver was preempted: another process wants its CPU, a second session
// say; or most requests come after the spin) the program's threads move back to the driver's CPU
// and nobody spins, for a while (adapt_placement), so that spinning never competes with real work.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "protocol.hpp"

namespace racelab::run {

namespace wire = racelab::rt::wire;

// The program could not be started under racelab (bad path, not dynamically linked, ...).
class ProgramError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct ProgramSpec {
  std::vector<std::string> argv;  // argv[0]: the program
  std::string runtime_library;    // libracelab_rt.so, preloaded
  // Pin the driver and the program: with two CPUs or more the program's threads share one CPU and
  // the driver takes another, and both spin briefly before they sleep, while that pays (see
  // Program); else they share the driver's CPU and only sleep. False: no pinning, no spinning.
  bool pin_cpu = true;
  // With pin_cpu: this CPU for the driver's thread and the program, together, and nobody spins
  // (one of several workers, each on a CPU of its own); -1: the CPU the driver runs on, the
  // program beside it while that pays.
  int cpu = -1;
};

// The CPUs this thread may run on, in order; and pins the calling thread to one.
std::vector<int> usable_cpus();
void pin_thread(int cpu);

// How a run's process ended.
struct ProcessEnd {
  bool exited = false;  // else killed by `signal`
  int status = 0;
  int signal = 0;
  std::string output;  // stdout and stderr, interleaved as written (the last MiB)
  std::string describe() const;
};

class Program {
 public:
  explicit Program(ProgramSpec spec);  // throws ProgramError
  ~Program();
  Program(const Program&) = delete;
  Program& operator=(const Program&) = delete;

  const ProgramSpec& spec() const { return spec_; }
  bool instrumented() const { return instrumented_; }
  // libsqlite3 or libpq is loaded: its runs likely share a database with each other's.
  bool uses_database() const { return shared_->databases != 0; }
  std::uint64_t exe_base() const { return shared_->exe_base; }
  wire::RunConfig& config() { return shared_->config; }

  // Forks a run (its main thread waits for its first reply).
  void start_run();
  bool running() const { return pid_ > 0; }

  // Waits for thread `tid`'s next request. nullopt when the run's process ended without one
  // (ended() then says how), or when the thread sent none within `stuck` (stuck() true).
  std::optional<wire::Request> next_request(std::uint32_t tid, std::chrono::milliseconds stuck);
  std::string_view text(std::uint32_t tid) const;
  // Runs thread `tid` with `reply`.
  void reply(std::uint32_t tid, wire::Reply reply);

  // Ends the run: waits up to `grace` for the process to exit by itself, then kills it.
  ProcessEnd finish_run(std::chrono::milliseconds grace);
  const std::optional<ProcessEnd>& ended() const { return ended_; }
  bool stuck() const { return stuck_; }

 private:
  ProcessEnd read_end();
  bool answer_ready(int timeout_ms) const;
  void park(std::uint32_t tid);
  bool relay(std::uint32_t from, std::uint32_t to);
  void adapt_placement();
  void set_split(bool on);

  ProgramSpec spec_;
  wire::Shared* shared_ = nullptr;
  int cmd_fd_ = -1;
  int ans_fd_ = -1;
  pid_t server_ = -1;
  pid_t pid_ = -1;
  bool instrumented_ = false;
  bool stuck_ = false;
  std::optional<ProcessEnd> ended_;
  std::uint32_t running_ = wire::kNoTid;          // the thread replied to last
  std::uint32_t slots_used_ = wire::kMaxThreads;  // 1 + the highest thread replied to in the run
  // Placement and spinning (see the top). The CPUs are -1 unpinned; equal when there is one.
  int driver_cpu_ = -1;
  int program_cpu_ = -1;
  bool split_ = false;               // the program on program_cpu_, both sides spinning
  bool fixed_placement_ = false;     // RACELAB_RUN_PLACEMENT: split_ never changes
  std::uint64_t woken_ = 0;          // FUTEX_WAKEs of a sleeping thread made by the driver
  std::uint64_t relayed_ = 0;        // ... made by the thread that ran (kRelay)
  std::uint64_t ticks_per_us_ = 0;   // the TSC's rate
  std::uint64_t spin_ticks_ = 0;     // the driver's spin now, 0 when not split
  std::uint32_t waits_ = 0;          // next_request calls, for adapt_placement's period
  std::uint32_t slept_waits_ = 0;    // ... that ended asleep since its last look
  long preemptions_ = 0;             // the driver thread's involuntary context switches so far
  std::uint32_t calm_waits_ = 0;     // not split until this many more waits pass
  std::uint32_t backoff_waits_ = 0;  // ... which doubles while contention lasts
};

}  // namespace racelab::run
