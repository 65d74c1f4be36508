// tools/racelab/fatal_signals.hpp — the CLI never dies silently. A fatal signal (SIGSEGV, SIGBUS,
// SIGFPE, SIGILL, SIGABRT) writes one line naming it, where it came from and a backtrace to stderr,
// then kills the process with the same signal under its default action, so the wait status still
// says the signal and a core dump is still written where enabled.
//
//   int main(int argc, char** argv) {
//     racelab::cli::report_fatal_signals();        // once, first thing: the main thread's alt stack too
//     ...
//   }
//   pool.enqueue([] { racelab::cli::use_signal_stack(); work(); });   // other threads: overflows too
//
// How: sigaction with SA_RESETHAND (the default action is back the moment the handler starts) and
// SA_ONSTACK. The handler calls only async-signal-safe functions: write(2), backtrace() and
// backtrace_symbols_fd() (glibc; backtrace() is called once at installation, because its first call
// loads libgcc_s, which allocates), and raise(). A stack overflow is reported because the handler runs
// on an alternate signal stack, which is per thread: use_signal_stack() gives the calling thread one.
//
// Sanitizers: under ASan or TSan nothing is installed (they install their own handlers, which report
// better); report_fatal_signals() returns false then.
#pragma once

namespace racelab::cli {

// Installs the handlers and gives the calling thread an alternate signal stack. Idempotent.
bool report_fatal_signals();

// Gives the calling thread an alternate signal stack (once; freed when the thread exits).
void use_signal_stack();

}  // namespace racelab::cli
