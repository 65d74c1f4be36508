// The driver's end of the wire: starts a program's fork server under racelab_rt, forks one
// process per run, waits for the running thread's requests and hands out replies.
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
  bool pin_cpu = true;            // the program and the driver share one CPU
};

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

  ProgramSpec spec_;
  wire::Shared* shared_ = nullptr;
  int cmd_fd_ = -1;
  int ans_fd_ = -1;
  pid_t server_ = -1;
  pid_t pid_ = -1;
  bool instrumented_ = false;
  bool stuck_ = false;
  std::optional<ProcessEnd> ended_;
};

}  // namespace racelab::run
