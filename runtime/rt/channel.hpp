// racelab_rt's handoff with the driver, for the interposed calls (interpose.cpp).
#pragma once

#include <cstdint>
#include <string_view>

#include "runtime.hpp"

namespace racelab::rt {

// True on a thread the driver controls, during a run.
bool controlled() noexcept;
// The virtual clock as of this thread's last reply, in ns.
std::int64_t now_ns() noexcept;

// Sends a request and waits until the driver runs this thread again; returns the reply.
wire::Reply call(wire::Request req, std::string_view text = {}) noexcept;
// Sends a request that has no reply (the thread is ending).
void send(wire::Request req, std::string_view text = {}) noexcept;

// On a new thread: becomes thread `tid` of the run and waits until the driver starts it.
void adopt_thread(std::uint32_t tid) noexcept;
// On a thread whose function returned: tells the driver and leaves control.
void leave_thread() noexcept;
// main returned or exit() was called: the run is over, the process exits as the program does.
void process_exit(int status) noexcept;
// A failed assertion, abort() or a fatal signal: tells the driver, which ends the run. The
// message carries the program's stack at the call (or, from a signal handler, at the fault).
void crash(int sig, std::string_view what, std::uint64_t pc, bool from_signal = false) noexcept;

// Where the program made a call: `return_address` if it is in the executable, else the innermost
// frame that is (a call from libstdc++ on the program's behalf, std::thread's say).
std::uint64_t site(std::uint64_t return_address) noexcept;

// Between quiet_begin and quiet_end (they nest) the thread is inside a database call: its
// requests are modelled but are not scheduling points, except sleeps and yields.
// `site` (see site()) stands for every call made inside.
void quiet_begin(std::uint64_t site) noexcept;
void quiet_end() noexcept;
bool quiet() noexcept;

// __tsan_init was called: the program was compiled for racelab.
void mark_instrumented() noexcept;

}  // namespace racelab::rt
