// The allocator, seen by the race detector: memory that malloc hands out is new, so the detector
// forgets what it remembered about those bytes.
//
// Without this, a block freed by one thread and handed to another by glibc's allocator keeps the
// first thread's accesses, and the second thread's first write looks like a race with them. The
// allocator orders the two (the free happens before the malloc that returns the block) through
// its own locks and per-thread caches, which the detector cannot see; glibc even moves an exiting
// thread's cached blocks back to the shared arena after the thread has left racelab's control.
// std::thread's state, freed by each new thread as it ends and reused by the next one started,
// is the common case.
//
// Each function calls glibc's allocator directly (__libc_malloc and friends, exported for this
// purpose), so nothing here needs dlsym, which itself allocates.
#include <malloc.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>

#include "detector.hpp"
#include "runtime.hpp"

extern "C" {
void* __libc_malloc(std::size_t size);
void* __libc_calloc(std::size_t count, std::size_t size);
void* __libc_realloc(void* p, std::size_t size);
void* __libc_memalign(std::size_t alignment, std::size_t size);
void* __libc_valloc(std::size_t size);
void* __libc_pvalloc(std::size_t size);
}

namespace {

namespace rt = racelab::rt;

void* fresh(void* p, std::size_t size) noexcept {
  if (p != nullptr && rt::g_detect && rt::g_controlled && rt::current_tid() != rt::wire::kNoTid) {
    rt::detector::forget_range(p, size);
  }
  return p;
}

bool power_of_two(std::size_t n) { return n != 0 && (n & (n - 1)) == 0; }

}  // namespace

#define RACELAB_ABI extern "C" [[gnu::visibility("default")]]

RACELAB_ABI void* malloc(std::size_t size) { return fresh(__libc_malloc(size), size); }

RACELAB_ABI void* calloc(std::size_t count, std::size_t size) {
  void* p = __libc_calloc(count, size);
  return p == nullptr ? p : fresh(p, count * size);  // no overflow: calloc checked it
}

RACELAB_ABI void* realloc(void* old, std::size_t size) { return fresh(__libc_realloc(old, size), size); }

RACELAB_ABI void* memalign(std::size_t alignment, std::size_t size) {
  return fresh(__libc_memalign(alignment, size), size);
}

RACELAB_ABI void* aligned_alloc(std::size_t alignment, std::size_t size) {
  return fresh(__libc_memalign(alignment, size), size);
}

RACELAB_ABI int posix_memalign(void** out, std::size_t alignment, std::size_t size) {
  if (!power_of_two(alignment) || alignment % sizeof(void*) != 0) return EINVAL;
  void* p = __libc_memalign(alignment, size);
  if (p == nullptr) return ENOMEM;
  *out = fresh(p, size);
  return 0;
}

RACELAB_ABI void* valloc(std::size_t size) { return fresh(__libc_valloc(size), size); }
RACELAB_ABI void* pvalloc(std::size_t size) { return fresh(__libc_pvalloc(size), size); }
