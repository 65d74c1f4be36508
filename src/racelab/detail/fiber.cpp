// Fibers on Boost.Context with pooled, guard-paged stacks and sanitizer annotations.
#include "racelab/detail/fiber.hpp"

#include <cxxabi.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <new>
#include <stdexcept>
#include <type_traits>
#include <utility>
#include <vector>

#include "racelab/detail/point_state.hpp"

#if defined(__SANITIZE_ADDRESS__)
#define RACELAB_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define RACELAB_ASAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define RACELAB_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define RACELAB_TSAN 1
#endif
#endif

#ifdef RACELAB_ASAN
#include <sanitizer/asan_interface.h>
#endif
#ifdef RACELAB_TSAN
#include <sanitizer/tsan_interface.h>
#endif

// ARM's EHABI unwinder gives __cxa_eh_globals a third member (propagatingExceptions).
#if defined(__arm__) && !defined(__ARM_DWARF_EH__) && !defined(__USING_SJLJ_EXCEPTIONS__)
#error "racelab: fibers swap the Itanium exception globals; ARM EHABI's are larger (see EhGlobals)"
#endif

namespace racelab::detail {

static_assert(std::is_standard_layout_v<EhGlobals> && std::is_trivially_copyable_v<EhGlobals>);
static_assert(offsetof(EhGlobals, uncaught_exceptions) == sizeof(void*) &&
                  sizeof(EhGlobals) == 2 * sizeof(void*),
              "EhGlobals must be laid out as the Itanium ABI's { __cxa_exception*, unsigned int }");

namespace {

// The running code's exception globals. The address is fixed per thread, and every fiber of a
// simulation runs on the thread that made it, so the fibers take turns on this one struct.
// The runtime's per-thread record never moves, so its address is asked for once per thread: a call
// into libstdc++ costs a dynamic TLS lookup (__tls_get_addr), and every switch swaps it twice.
EhGlobals& thread_eh_globals() noexcept {
  thread_local EhGlobals* const globals = reinterpret_cast<EhGlobals*>(abi::__cxa_get_globals());
  return *globals;
}

std::size_t page_size() {
  static const auto size = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  return size;
}

// Guard pages of every live stack, readable from the signal handler without locks: a slot is
// written under g_guard_mu, published by the release store of g_guard_count (or of its low
// address, when a freed slot is reused), and cleared to 0 when its stack is unmapped, so threads
// that come and go (explore()'s workers) do not fill the table.
constexpr std::size_t kMaxGuards = 4096;
std::atomic<std::uintptr_t> g_guard_lo[kMaxGuards];
std::size_t g_guard_stack_size[kMaxGuards];
std::atomic<std::size_t> g_guard_count{0};
std::mutex g_guard_mu;
thread_local std::atomic<const char*> g_running_task{nullptr};  // the fiber running on this thread

void forget_guard(void* base) {
  std::lock_guard lk(g_guard_mu);
  const auto lo = reinterpret_cast<std::uintptr_t>(base);
  for (std::size_t i = 0, n = g_guard_count.load(std::memory_order_relaxed); i < n; ++i)
    if (g_guard_lo[i].load(std::memory_order_relaxed) == lo)
      g_guard_lo[i].store(0, std::memory_order_relaxed);
}

void unmap(void* base, std::size_t total) {
  forget_guard(base);
  ::munmap(base, total);
}

struct Stack {
  void* base = nullptr;  // the guard page; the usable stack is above it
  std::size_t total = 0;
};

// Per-thread pool: a simulation runs on one thread, and explore() makes thousands of runs, so stacks
// are mapped once and reused. Freed at thread exit.
class StackPool {
 public:
  ~StackPool() {
    for (auto& s : free_) unmap(s.base, s.total);
  }
  Stack take(std::size_t usable) {
    const std::size_t page = page_size();
    usable = (usable + page - 1) / page * page;
    for (auto it = free_.begin(); it != free_.end(); ++it) {
      if (it->total == usable + page) {
        Stack s = *it;
        free_.erase(it);
        return s;
      }
    }
    Stack s;
    s.total = usable + page;
    s.base = ::mmap(nullptr, s.total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (s.base == MAP_FAILED) throw std::bad_alloc();
    ::mprotect(s.base, page, PROT_NONE);
    std::lock_guard lk(g_guard_mu);
    auto n = g_guard_count.load(std::memory_order_relaxed);
    std::size_t slot = 0;
    while (slot < n && g_guard_lo[slot].load(std::memory_order_relaxed) != 0) ++slot;
    if (slot < n) {
      g_guard_stack_size[slot] = usable;
      g_guard_lo[slot].store(reinterpret_cast<std::uintptr_t>(s.base), std::memory_order_release);
    } else if (n < kMaxGuards) {
      g_guard_lo[n].store(reinterpret_cast<std::uintptr_t>(s.base), std::memory_order_relaxed);
      g_guard_stack_size[n] = usable;
      g_guard_count.store(n + 1, std::memory_order_release);
    }
    return s;
  }
  void give(Stack s) {
#ifdef RACELAB_ASAN
    // A fiber may be dropped while parked (a worker waiting for its next task): its frames' red
    // zones are still poisoned, and the next fiber on this stack must not inherit them.
    __asan_unpoison_memory_region(static_cast<char*>(s.base) + page_size(), s.total - page_size());
#endif
    if (free_.size() < 64) {
      free_.push_back(s);
    } else {
      unmap(s.base, s.total);
    }
  }

 private:
  std::vector<Stack> free_;
};

thread_local StackPool t_pool;

// The scheduler's stack, as ASan reported it when a fiber first started (ASan needs the bounds of
// the stack it is switching to).
#ifdef RACELAB_ASAN
thread_local const void* t_scheduler_stack_bottom = nullptr;
thread_local std::size_t t_scheduler_stack_size = 0;
#endif

[[maybe_unused]] void on_segv(int sig, siginfo_t* info, void*) {
  auto addr = reinterpret_cast<std::uintptr_t>(info->si_addr);
  const std::size_t page = page_size();
  const auto n = g_guard_count.load(std::memory_order_acquire);
  for (std::size_t i = 0; i < n; ++i) {
    const std::uintptr_t lo = g_guard_lo[i].load(std::memory_order_acquire);
    if (lo != 0 && addr >= lo && addr < lo + page) {
      char msg[256];
      const char* task = g_running_task.load(std::memory_order_relaxed);
      int len = std::snprintf(
          msg, sizeof msg, "racelab: task '%s' overflowed its %zu KiB stack; raise SimOptions::stack_size\n",
          task != nullptr ? task : "?", g_guard_stack_size[i] / 1024);
      if (len > 0) {
        [[maybe_unused]] auto w = ::write(STDERR_FILENO, msg, static_cast<std::size_t>(len));
      }
      break;
    }
  }
  // Fall back to the default action, so the process still dies with SIGSEGV (and a core if enabled).
  ::signal(sig, SIG_DFL);
}

}  // namespace

void set_running_task_name(const char* name) noexcept {
  g_running_task.store(name, std::memory_order_relaxed);
}

void install_overflow_reporter() {
#ifndef RACELAB_ASAN  // ASan reports stack overflows itself, with a better stack trace
  // The handler must run on a stack of its own (the faulting one is full); alternate stacks are
  // per thread, so every thread that runs a simulation gets one.
  thread_local std::vector<char> alt;
  if (alt.empty()) {
    alt.resize(64 * 1024);
    stack_t ss{};
    ss.ss_sp = alt.data();
    ss.ss_size = alt.size();
    ::sigaltstack(&ss, nullptr);
  }
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction sa {};
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    ::sigaction(SIGSEGV, &sa, nullptr);
  });
#endif
}

#if defined(RACELAB_TSAN)
#define RACELAB_NO_TSAN __attribute__((no_sanitize("thread")))
#else
#define RACELAB_NO_TSAN
#endif

Fiber::Fiber(std::size_t stack_size, std::function<void()> entry) : entry_(std::move(entry)) {
  Stack s = t_pool.take(stack_size);
  stack_base_ = s.base;
  stack_total_ = s.total;
  stack_bottom_ = static_cast<char*>(s.base) + page_size();
  stack_size_ = s.total - page_size();
  self_ =
      boost::context::detail::make_fcontext(static_cast<char*>(s.base) + s.total, stack_size_, &trampoline);
#ifdef RACELAB_TSAN
  tsan_fiber_ = __tsan_create_fiber(0);
#endif
}

Fiber::~Fiber() {
#ifdef RACELAB_TSAN
  if (tsan_fiber_ != nullptr) __tsan_destroy_fiber(tsan_fiber_);
#endif
  t_pool.give(Stack{stack_base_, stack_total_});
}

void Fiber::install_fiber_state() noexcept {
  scheduler_state_.eh = std::exchange(thread_eh_globals(), fiber_state_.eh);
  scheduler_state_.point_log = exchange_point_log(fiber_state_.point_log);
  // The task's points that no log of its own records go to the scheduler's innermost log.
  scheduler_state_.fallback_point_log = exchange_fallback_point_log(scheduler_state_.point_log);
}

void Fiber::install_scheduler_state() noexcept {
  fiber_state_.eh = std::exchange(thread_eh_globals(), scheduler_state_.eh);
  fiber_state_.point_log = exchange_point_log(scheduler_state_.point_log);
  exchange_fallback_point_log(scheduler_state_.fallback_point_log);
}

// The first frame on a fiber's stack. It never returns: when the entry function is done it jumps
// back to the scheduler for good. Not instrumented by TSan, so no function-exit event can land on
// the scheduler's shadow stack after the final switch.
RACELAB_NO_TSAN void Fiber::trampoline(boost::context::detail::transfer_t from) {
  auto* self = static_cast<Fiber*>(from.data);
  self->caller_ = from.fctx;
#ifdef RACELAB_ASAN
  __sanitizer_finish_switch_fiber(nullptr, &t_scheduler_stack_bottom, &t_scheduler_stack_size);
#endif
  self->entry_();  // must not throw
  self->finished_ = true;
  self->install_scheduler_state();
#ifdef RACELAB_ASAN
  __sanitizer_start_switch_fiber(nullptr, t_scheduler_stack_bottom, t_scheduler_stack_size);  // dying
#endif
#ifdef RACELAB_TSAN
  __tsan_switch_to_fiber(self->tsan_caller_, 0);
#endif
  boost::context::detail::jump_fcontext(self->caller_, nullptr);
  __builtin_unreachable();
}

// Each side swaps the runtime state before its sanitizer annotations, so those calls see it
// settled and every instrumented access of the swap belongs to the context that makes it.
void Fiber::switch_in() {
  install_fiber_state();
#ifdef RACELAB_ASAN
  void* fake = nullptr;
  __sanitizer_start_switch_fiber(&fake, stack_bottom_, stack_size_);
#endif
#ifdef RACELAB_TSAN
  tsan_caller_ = __tsan_get_current_fiber();
  __tsan_switch_to_fiber(tsan_fiber_, 0);
#endif
  self_ = boost::context::detail::jump_fcontext(self_, this).fctx;
#ifdef RACELAB_ASAN
  __sanitizer_finish_switch_fiber(fake, nullptr, nullptr);
#endif
}

void Fiber::switch_out() {
  install_scheduler_state();
#ifdef RACELAB_ASAN
  __sanitizer_start_switch_fiber(&asan_fake_stack_, t_scheduler_stack_bottom, t_scheduler_stack_size);
#endif
#ifdef RACELAB_TSAN
  __tsan_switch_to_fiber(tsan_caller_, 0);
#endif
  caller_ = boost::context::detail::jump_fcontext(caller_, nullptr).fctx;
#ifdef RACELAB_ASAN
  __sanitizer_finish_switch_fiber(asan_fake_stack_, &t_scheduler_stack_bottom, &t_scheduler_stack_size);
#endif
}

}  // namespace racelab::detail

namespace racelab::detail {
void keep_stack_pool_alive() noexcept { static_cast<void>(&t_pool); }
}  // namespace racelab::detail
