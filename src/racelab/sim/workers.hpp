// Private to racelab: the threads explore()'s searches run their helper workers on.
//
// A search of a few hundred runs takes about a millisecond; starting and joining a thread for it,
// and the thread's first fiber stacks (mmap'd, faulted in page by page), cost a good part of that.
// So helper threads are kept: a search takes idle ones (starting more when none is idle: searches
// may run at once, from several threads or nested in a body) and gives them back when it ends.
// Kept threads park on a condition variable and stay for the life of the process; they are
// detached, so exit() never waits for them. A forked child starts with none (the parent's are not
// in it).
#pragma once

#include <functional>
#include <thread>

namespace racelab::detail {

// Runs work(i) for i = 1 … n-1 on kept threads and work(0) on the calling thread, and returns when
// every call has returned. `work` must not throw. Throws std::system_error, before any call
// starts, when a thread cannot be started.
void run_on_workers(int n, const std::function<void(int)>& work);

// One step of a spin-wait: a pause instruction (about 28 ns on this machine kind), or a yield.
inline void cpu_relax() noexcept {
#if defined(__x86_64__)
  __builtin_ia32_pause();
#else
  std::this_thread::yield();
#endif
}

}  // namespace racelab::detail
