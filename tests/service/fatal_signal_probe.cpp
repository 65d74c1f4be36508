// A program with racelab's fatal-signal report that crashes as told, for FatalSignal's tests:
//   fatal_signal_probe overflow    a thread of the pool kind (use_signal_stack) recurses without end
//   fatal_signal_probe segv        the main thread writes through a null pointer
//   fatal_signal_probe abort       std::abort()
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "fatal_signals.hpp"

// Recursion the optimiser cannot turn into a loop: each frame's buffer is used after the call. Not
// in an anonymous namespace, so that the backtrace can name it (the probe links with -rdynamic).
int deeper(int depth);
int deeper(int depth) {
  volatile char frame[512];
  frame[0] = static_cast<char>(depth);
  if (depth < 0) return 0;  // never: the stack ends long before `depth` could wrap
  const int below = deeper(depth + 1);
  return below + frame[0];
}

int main(int argc, char** argv) {
  racelab::cli::report_fatal_signals();
  const char* what = argc > 1 ? argv[1] : "";
  if (std::strcmp(what, "overflow") == 0) {
    std::thread t([] {
      racelab::cli::use_signal_stack();
      std::printf("%d\n", deeper(0));
    });
    t.join();
  } else if (std::strcmp(what, "segv") == 0) {
    volatile int* nowhere = nullptr;
    *nowhere = 1;
  } else if (std::strcmp(what, "abort") == 0) {
    std::abort();
  }
  std::fprintf(stderr, "usage: fatal_signal_probe overflow|segv|abort\n");
  return 2;
}
