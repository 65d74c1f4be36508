// `racelab run`: an unmodified program's threads as tasks of racelab's scheduler core.
//
// Each program thread has a proxy task in the driver. The proxy starts its thread, then serves
// its requests one by one: every interposed call (a lock, a wait, a thread's creation) and every
// scheduling-point access arrives as a request; the proxy makes it a point of the simulation,
// models the object in the driver (racelab's own wait queues, so a blocked call blocks the proxy
// and deadlocks are reported by the core), and replies, which runs that thread until its next
// request. So explore(), its strategies, replay, minimisation and the timeline work unchanged:
// only the tasks are someone else's threads.
#pragma once

#include <racelab/explore.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <string>
#include <vector>

namespace racelab::run {

enum class Races { report, fail, ignore };
enum class Points { racy, sync, all };

struct RunOptions {
  std::vector<std::string> argv;  // the program and its arguments
  std::string runtime_library;    // libracelab_rt.so
  std::string strategy = "random";
  int runs = 1000;
  std::uint64_t seed = 0;
  std::string schedule;               // replay only this
  std::chrono::milliseconds time{0};  // random / pct: stop after this long (0: no limit)
  Races races = Races::report;
  Points points = Points::racy;
  int detect_runs = 20;  // the first phase (Points::racy): runs that find the racy instructions
  bool fail_on_exit = false;
  // A sleep is a scheduling point after which the thread stays runnable (its clock jumps ahead),
  // instead of a wait in virtual time that ends only when every other thread waits.
  bool sleeps_yield = false;
  std::uint64_t max_steps = 100'000;
  std::chrono::milliseconds stuck{10'000};  // a thread away from racelab this long fails the run
  // Pin the driver and the program's threads (ProgramSpec::pin_cpu). With one worker the program
  // may get a CPU beside the driver's, and both spin; with several, each worker's driver thread
  // and program share a CPU of their own, and nobody spins.
  bool pin_cpu = true;
  // Workers, each with a program process of its own (0: one per usable CPU; RACELAB_JOBS, when
  // set, overrides it, as for explore()). The result does not depend on it. -1: one per usable
  // CPU, but one for a program that loads libsqlite3 or libpq (its runs would share a database).
  int jobs = 1;
  bool verify = false;
  std::string trace_file;                     // the failing run as Chrome-trace JSON
  std::string replay_prefix = "racelab run";  // how the replay command starts
  std::function<void(int done, int total)> progress;
  racelab::ExploreShard shard{};                          // this process's share of the run space
  std::function<void(const racelab::Report&)> on_report;  // the search's report, before the story
};

// Runs the search and prints the story to `out` (diagnostics to `err`). Returns the exit code:
// 0 nothing failed within the budget, 1 a run failed, 2 bad usage or a schedule that does not fit.
int run_program(const RunOptions& options, std::ostream& out, std::ostream& err);

}  // namespace racelab::run
