// The threading API, defined by racelab_rt: during a run every call becomes a request to the
// driver, which models the object (a mutex's owner and waiters, a semaphore's count), makes the
// call a scheduling point and runs whichever thread the strategy picks. Outside a run (the fork
// server, the program started without `racelab run`, exit handlers) each call passes through to
// glibc's own.
//
// The program's objects keep glibc's layout and are initialised by glibc (so a mutex's kind is
// where glibc keeps it); while a run lasts their lock state lives in the driver only.
#include <dlfcn.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <cassert>
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "channel.hpp"

namespace rt = racelab::rt;
namespace wire = racelab::rt::wire;
using wire::Op;

namespace {

// Virtual time starts at these readings of the clocks.
constexpr std::int64_t kRealtimeBaseNs = 1'767'225'600'000'000'000;  // 2026-01-01T00:00:00Z
constexpr std::int64_t kMonotonicBaseNs = 1'000'000'000'000;

template <class F>
F real(const char* name, const char* version = nullptr) {
  void* sym = version ? dlvsym(RTLD_NEXT, name, version) : dlsym(RTLD_NEXT, name);
  if (sym == nullptr) {
    std::fprintf(stderr, "racelab_rt: cannot find %s in the C library\n", name);
    std::abort();
  }
  return reinterpret_cast<F>(sym);
}
#define RACELAB_REAL(name, ...) \
  static const auto real_##name = real<decltype(&::name)>(#name __VA_OPT__(, ) __VA_ARGS__)

std::uint64_t here(void* return_address) {
  return rt::site(reinterpret_cast<std::uintptr_t>(return_address));
}
#define RACELAB_SITE here(__builtin_return_address(0))

std::uint64_t addr(const volatile void* p) { return reinterpret_cast<std::uintptr_t>(p); }

wire::Reply ask(Op op, const volatile void* obj, std::uint64_t pc, std::uint64_t arg0 = 0,
                std::uint64_t arg1 = 0, std::uint64_t arg2 = 0) {
  return rt::call({.op = op, .obj = addr(obj), .arg0 = arg0, .arg1 = arg1, .arg2 = arg2, .pc = pc});
}

std::int64_t clock_now_ns(clockid_t clock) {
  bool realtime = clock == CLOCK_REALTIME || clock == CLOCK_REALTIME_COARSE || clock == CLOCK_TAI;
  return (realtime ? kRealtimeBaseNs : kMonotonicBaseNs) + rt::now_ns();
}

bool virtual_clock(clockid_t clock) {
  switch (clock) {
    case CLOCK_REALTIME:
    case CLOCK_REALTIME_COARSE:
    case CLOCK_TAI:
    case CLOCK_MONOTONIC:
    case CLOCK_MONOTONIC_COARSE:
    case CLOCK_MONOTONIC_RAW:
    case CLOCK_BOOTTIME: return true;
    default: return false;
  }
}

std::int64_t ns_of(const timespec& t) { return std::int64_t{t.tv_sec} * 1'000'000'000 + t.tv_nsec; }

// A deadline on `clock` as a timeout from now, in virtual ns (0 when already past).
std::uint64_t timeout_until(clockid_t clock, const timespec* abs) {
  auto left = ns_of(*abs) - clock_now_ns(clock);
  return left > 0 ? static_cast<std::uint64_t>(left) : 0;
}

bool bad_timespec(const timespec* t) { return t == nullptr || t->tv_nsec < 0 || t->tv_nsec >= 1'000'000'000; }

std::uint64_t mutex_kind(const pthread_mutex_t* m) {
  switch (m->__data.__kind & 3) {
    case PTHREAD_MUTEX_RECURSIVE: return static_cast<std::uint64_t>(wire::MutexKind::recursive);
    case PTHREAD_MUTEX_ERRORCHECK: return static_cast<std::uint64_t>(wire::MutexKind::errorcheck);
    default: return static_cast<std::uint64_t>(wire::MutexKind::normal);
  }
}

clockid_t cond_clock(const pthread_cond_t* c) {
  // glibc keeps the clock in bit 1 of __wrefs (pthread_cond_common.c).
  return (c->__data.__wrefs & 2) != 0 ? CLOCK_MONOTONIC : CLOCK_REALTIME;
}

// The thread handles of the run, by thread id, for join and detach.
pthread_t g_handles[wire::kMaxThreads];
bool g_handle_set[wire::kMaxThreads];

std::uint32_t tid_of(pthread_t thread) {
  // Newest first: glibc reuses the handle of a thread that ended detached.
  for (std::uint32_t i = wire::kMaxThreads; i-- > 0;)
    if (g_handle_set[i] && pthread_equal(g_handles[i], thread)) return i;
  return wire::kNoTid;
}

struct Start {
  void* (*fn)(void*);
  void* arg;
  std::uint32_t tid;
};

// Leaves control when the thread's function is done: as it returns, or at the end of the
// unwinding pthread_exit does, after the destructors and cleanup handlers that unlock its mutexes.
struct Leave {
  ~Leave() {
    if (rt::controlled()) rt::leave_thread();
  }
};

void* trampoline(void* p) {
  Start start = *static_cast<Start*>(p);
  delete static_cast<Start*>(p);
  rt::adopt_thread(start.tid);
  Leave leave;
  return start.fn(start.arg);
}

int lock_result(const wire::Reply& r) { return r.result; }

int sem_result(const wire::Reply& r) {
  if (r.result == 0) return 0;
  errno = r.result;
  return -1;
}

}  // namespace

extern "C" {

// --- threads ----------------------------------------------------------------------------------

int pthread_create(pthread_t* thread, const pthread_attr_t* attr, void* (*fn)(void*), void* arg) {
  RACELAB_REAL(pthread_create);
  if (!rt::controlled()) return real_pthread_create(thread, attr, fn, arg);
  // Ids follow the order of creation, as the driver numbers its tasks. The thread exists (and
  // waits for the driver) before the driver hears of it, so the driver may start it at once.
  static std::uint32_t created = 0;
  if (created + 1 >= wire::kMaxThreads) return EAGAIN;
  const std::uint32_t tid = ++created;
  int detached = PTHREAD_CREATE_JOINABLE;
  if (attr != nullptr) pthread_attr_getdetachstate(attr, &detached);
  rt::detector::thread_created(tid);
  int rc = real_pthread_create(thread, attr, trampoline, new Start{fn, arg, tid});
  if (rc != 0) {
    --created;
    return rc;
  }
  g_handles[tid] = *thread;
  g_handle_set[tid] = detached != PTHREAD_CREATE_DETACHED;  // a detached one's handle is reused
  return ask(Op::thread_create, nullptr, RACELAB_SITE, detached == PTHREAD_CREATE_DETACHED, tid).result;
}

int pthread_join(pthread_t thread, void** result) {
  RACELAB_REAL(pthread_join);
  if (rt::controlled()) {
    auto tid = tid_of(thread);
    if (tid != wire::kNoTid) {
      auto reply = ask(Op::thread_join, nullptr, RACELAB_SITE, tid);
      if (reply.result != 0) return reply.result;
      rt::detector::thread_joined(tid);
      g_handle_set[tid] = false;
    }
  }
  return real_pthread_join(thread, result);  // the thread has ended (or is ending): reaps it
}

int pthread_detach(pthread_t thread) noexcept {
  RACELAB_REAL(pthread_detach);
  if (rt::controlled()) {
    auto tid = tid_of(thread);
    if (tid != wire::kNoTid) {
      auto reply = ask(Op::thread_detach, nullptr, RACELAB_SITE, tid);
      if (reply.result != 0) return reply.result;
      g_handle_set[tid] = false;
    }
  }
  return real_pthread_detach(thread);
}

void pthread_exit(void* result) {
  RACELAB_REAL(pthread_exit);
  // A thread racelab started leaves control at the end of the unwinding (trampoline's Leave);
  // main has no such frame.
  if (rt::controlled() && rt::current_tid() == 0) rt::leave_thread();
  real_pthread_exit(result);
  __builtin_unreachable();
}

// --- mutexes ----------------------------------------------------------------------------------

int pthread_mutex_lock(pthread_mutex_t* m) noexcept {
  RACELAB_REAL(pthread_mutex_lock);
  if (!rt::controlled()) return real_pthread_mutex_lock(m);
  int rc = lock_result(ask(Op::mutex_lock, m, RACELAB_SITE, mutex_kind(m)));
  if (rc == 0) rt::detector::acquire(m);
  return rc;
}

int pthread_mutex_trylock(pthread_mutex_t* m) noexcept {
  RACELAB_REAL(pthread_mutex_trylock);
  if (!rt::controlled()) return real_pthread_mutex_trylock(m);
  int rc = lock_result(ask(Op::mutex_trylock, m, RACELAB_SITE, mutex_kind(m)));
  if (rc == 0) rt::detector::acquire(m);
  return rc;
}

int pthread_mutex_clocklock(pthread_mutex_t* m, clockid_t clock, const timespec* abs) noexcept {
  RACELAB_REAL(pthread_mutex_clocklock);
  if (!rt::controlled()) return real_pthread_mutex_clocklock(m, clock, abs);
  if (bad_timespec(abs) || !virtual_clock(clock)) return EINVAL;
  int rc = lock_result(ask(Op::mutex_timedlock, m, RACELAB_SITE, mutex_kind(m), timeout_until(clock, abs)));
  if (rc == 0) rt::detector::acquire(m);
  return rc;
}

int pthread_mutex_timedlock(pthread_mutex_t* m, const timespec* abs) noexcept {
  return pthread_mutex_clocklock(m, CLOCK_REALTIME, abs);
}

int pthread_mutex_unlock(pthread_mutex_t* m) noexcept {
  RACELAB_REAL(pthread_mutex_unlock);
  if (!rt::controlled()) return real_pthread_mutex_unlock(m);
  rt::detector::release(m);
  return lock_result(ask(Op::mutex_unlock, m, RACELAB_SITE, mutex_kind(m)));
}

int pthread_mutex_destroy(pthread_mutex_t* m) noexcept {
  RACELAB_REAL(pthread_mutex_destroy);
  if (rt::controlled()) {
    int rc = lock_result(ask(Op::mutex_destroy, m, RACELAB_SITE, mutex_kind(m)));
    if (rc != 0) return rc;
  }
  return real_pthread_mutex_destroy(m);
}

int pthread_spin_lock(pthread_spinlock_t* s) noexcept {
  RACELAB_REAL(pthread_spin_lock);
  if (!rt::controlled()) return real_pthread_spin_lock(s);
  int rc =
      lock_result(ask(Op::mutex_lock, s, RACELAB_SITE, static_cast<std::uint64_t>(wire::MutexKind::spin)));
  if (rc == 0) rt::detector::acquire(const_cast<const int*>(s));
  return rc;
}

int pthread_spin_trylock(pthread_spinlock_t* s) noexcept {
  RACELAB_REAL(pthread_spin_trylock);
  if (!rt::controlled()) return real_pthread_spin_trylock(s);
  int rc =
      lock_result(ask(Op::mutex_trylock, s, RACELAB_SITE, static_cast<std::uint64_t>(wire::MutexKind::spin)));
  if (rc == 0) rt::detector::acquire(const_cast<const int*>(s));
  return rc;
}

int pthread_spin_unlock(pthread_spinlock_t* s) noexcept {
  RACELAB_REAL(pthread_spin_unlock);
  if (!rt::controlled()) return real_pthread_spin_unlock(s);
  rt::detector::release(const_cast<const int*>(s));
  return lock_result(
      ask(Op::mutex_unlock, s, RACELAB_SITE, static_cast<std::uint64_t>(wire::MutexKind::spin)));
}

// --- reader-writer locks ----------------------------------------------------------------------

#define RACELAB_RWLOCK(name, op, acquires)               \
  int name(pthread_rwlock_t* l) noexcept {               \
    RACELAB_REAL(name);                                  \
    if (!rt::controlled()) return real_##name(l);        \
    int rc = lock_result(ask(op, l, RACELAB_SITE));      \
    if (rc == 0 && (acquires)) rt::detector::acquire(l); \
    return rc;                                           \
  }
RACELAB_RWLOCK(pthread_rwlock_rdlock, Op::rwlock_rdlock, true)
RACELAB_RWLOCK(pthread_rwlock_wrlock, Op::rwlock_wrlock, true)
RACELAB_RWLOCK(pthread_rwlock_tryrdlock, Op::rwlock_tryrdlock, true)
RACELAB_RWLOCK(pthread_rwlock_trywrlock, Op::rwlock_trywrlock, true)
#undef RACELAB_RWLOCK

int pthread_rwlock_unlock(pthread_rwlock_t* l) noexcept {
  RACELAB_REAL(pthread_rwlock_unlock);
  if (!rt::controlled()) return real_pthread_rwlock_unlock(l);
  rt::detector::release(l);
  return lock_result(ask(Op::rwlock_unlock, l, RACELAB_SITE));
}

int pthread_rwlock_destroy(pthread_rwlock_t* l) noexcept {
  RACELAB_REAL(pthread_rwlock_destroy);
  if (rt::controlled()) {
    int rc = lock_result(ask(Op::rwlock_destroy, l, RACELAB_SITE));
    if (rc != 0) return rc;
  }
  return real_pthread_rwlock_destroy(l);
}

int pthread_rwlock_clockrdlock(pthread_rwlock_t* l, clockid_t clock, const timespec* abs) noexcept {
  RACELAB_REAL(pthread_rwlock_clockrdlock);
  if (!rt::controlled()) return real_pthread_rwlock_clockrdlock(l, clock, abs);
  if (bad_timespec(abs) || !virtual_clock(clock)) return EINVAL;
  int rc = lock_result(ask(Op::rwlock_timedrdlock, l, RACELAB_SITE, 0, timeout_until(clock, abs)));
  if (rc == 0) rt::detector::acquire(l);
  return rc;
}

int pthread_rwlock_clockwrlock(pthread_rwlock_t* l, clockid_t clock, const timespec* abs) noexcept {
  RACELAB_REAL(pthread_rwlock_clockwrlock);
  if (!rt::controlled()) return real_pthread_rwlock_clockwrlock(l, clock, abs);
  if (bad_timespec(abs) || !virtual_clock(clock)) return EINVAL;
  int rc = lock_result(ask(Op::rwlock_timedwrlock, l, RACELAB_SITE, 0, timeout_until(clock, abs)));
  if (rc == 0) rt::detector::acquire(l);
  return rc;
}

int pthread_rwlock_timedrdlock(pthread_rwlock_t* l, const timespec* abs) noexcept {
  return pthread_rwlock_clockrdlock(l, CLOCK_REALTIME, abs);
}

int pthread_rwlock_timedwrlock(pthread_rwlock_t* l, const timespec* abs) noexcept {
  return pthread_rwlock_clockwrlock(l, CLOCK_REALTIME, abs);
}

// --- condition variables (glibc's current symbol version, GLIBC_2.3.2) -------------------------

int pthread_cond_wait(pthread_cond_t* c, pthread_mutex_t* m) {
  RACELAB_REAL(pthread_cond_wait, "GLIBC_2.3.2");
  if (!rt::controlled()) return real_pthread_cond_wait(c, m);
  rt::detector::release(m);
  int rc = lock_result(ask(Op::cond_wait, c, RACELAB_SITE, addr(m), 0, mutex_kind(m)));
  rt::detector::acquire(c);
  rt::detector::acquire(m);
  return rc;
}

int pthread_cond_clockwait(pthread_cond_t* c, pthread_mutex_t* m, clockid_t clock, const timespec* abs) {
  RACELAB_REAL(pthread_cond_clockwait);
  if (!rt::controlled()) return real_pthread_cond_clockwait(c, m, clock, abs);
  if (bad_timespec(abs) || !virtual_clock(clock)) return EINVAL;
  rt::detector::release(m);
  int rc = lock_result(
      ask(Op::cond_timedwait, c, RACELAB_SITE, addr(m), timeout_until(clock, abs), mutex_kind(m)));
  rt::detector::acquire(c);
  rt::detector::acquire(m);
  return rc;
}

int pthread_cond_timedwait(pthread_cond_t* c, pthread_mutex_t* m, const timespec* abs) {
  RACELAB_REAL(pthread_cond_timedwait, "GLIBC_2.3.2");
  if (!rt::controlled()) return real_pthread_cond_timedwait(c, m, abs);
  return pthread_cond_clockwait(c, m, cond_clock(c), abs);
}

int pthread_cond_signal(pthread_cond_t* c) noexcept {
  RACELAB_REAL(pthread_cond_signal, "GLIBC_2.3.2");
  if (!rt::controlled()) return real_pthread_cond_signal(c);
  rt::detector::release(c);
  return lock_result(ask(Op::cond_signal, c, RACELAB_SITE));
}

int pthread_cond_broadcast(pthread_cond_t* c) noexcept {
  RACELAB_REAL(pthread_cond_broadcast, "GLIBC_2.3.2");
  if (!rt::controlled()) return real_pthread_cond_broadcast(c);
  rt::detector::release(c);
  return lock_result(ask(Op::cond_broadcast, c, RACELAB_SITE));
}

int pthread_cond_destroy(pthread_cond_t* c) noexcept {
  RACELAB_REAL(pthread_cond_destroy, "GLIBC_2.3.2");
  if (rt::controlled()) {
    int rc = lock_result(ask(Op::cond_destroy, c, RACELAB_SITE));
    if (rc != 0) return rc;
  }
  return real_pthread_cond_destroy(c);
}

// --- barriers, once ---------------------------------------------------------------------------

int pthread_barrier_init(pthread_barrier_t* b, const pthread_barrierattr_t* attr, unsigned count) noexcept {
  RACELAB_REAL(pthread_barrier_init);
  int rc = real_pthread_barrier_init(b, attr, count);
  if (rc == 0 && rt::controlled()) rc = lock_result(ask(Op::barrier_init, b, RACELAB_SITE, count));
  return rc;
}

int pthread_barrier_wait(pthread_barrier_t* b) noexcept {
  RACELAB_REAL(pthread_barrier_wait);
  if (!rt::controlled()) return real_pthread_barrier_wait(b);
  rt::detector::release(b);
  auto reply = ask(Op::barrier_wait, b, RACELAB_SITE);
  rt::detector::acquire(b);
  return reply.result != 0 ? reply.result : (reply.value != 0 ? PTHREAD_BARRIER_SERIAL_THREAD : 0);
}

int pthread_barrier_destroy(pthread_barrier_t* b) noexcept {
  RACELAB_REAL(pthread_barrier_destroy);
  if (rt::controlled()) {
    int rc = lock_result(ask(Op::barrier_destroy, b, RACELAB_SITE));
    if (rc != 0) return rc;
  }
  return real_pthread_barrier_destroy(b);
}

int pthread_once(pthread_once_t* once, void (*init)()) {
  RACELAB_REAL(pthread_once);
  if (!rt::controlled()) return real_pthread_once(once, init);
  auto pc = RACELAB_SITE;
  if (ask(Op::once_begin, once, pc).value != 0) {
    struct Abort {  // std::call_once's function threw: the next caller runs it again
      pthread_once_t* once;
      std::uint64_t pc;
      bool done = false;
      ~Abort() {
        if (!done) ask(Op::once_abort, once, pc);
      }
    } abort{once, pc};
    init();
    abort.done = true;
    rt::detector::release(once);
    ask(Op::once_end, once, pc);
  } else {
    rt::detector::acquire(once);
  }
  return 0;
}

// --- semaphores -------------------------------------------------------------------------------

int sem_init(sem_t* s, int shared, unsigned value) noexcept {
  RACELAB_REAL(sem_init);
  int rc = real_sem_init(s, shared, value);
  if (rc == 0 && rt::controlled()) return sem_result(ask(Op::sem_init, s, RACELAB_SITE, value));
  return rc;
}

int sem_wait(sem_t* s) {
  RACELAB_REAL(sem_wait);
  if (!rt::controlled()) return real_sem_wait(s);
  int rc = sem_result(ask(Op::sem_wait, s, RACELAB_SITE));
  if (rc == 0) rt::detector::acquire(s);
  return rc;
}

int sem_trywait(sem_t* s) noexcept {
  RACELAB_REAL(sem_trywait);
  if (!rt::controlled()) return real_sem_trywait(s);
  int rc = sem_result(ask(Op::sem_trywait, s, RACELAB_SITE));
  if (rc == 0) rt::detector::acquire(s);
  return rc;
}

int sem_clockwait(sem_t* s, clockid_t clock, const timespec* abs) {
  RACELAB_REAL(sem_clockwait);
  if (!rt::controlled()) return real_sem_clockwait(s, clock, abs);
  if (bad_timespec(abs) || !virtual_clock(clock)) {
    errno = EINVAL;
    return -1;
  }
  int rc = sem_result(ask(Op::sem_timedwait, s, RACELAB_SITE, 0, timeout_until(clock, abs)));
  if (rc == 0) rt::detector::acquire(s);
  return rc;
}

int sem_timedwait(sem_t* s, const timespec* abs) { return sem_clockwait(s, CLOCK_REALTIME, abs); }

int sem_post(sem_t* s) noexcept {
  RACELAB_REAL(sem_post);
  if (!rt::controlled()) return real_sem_post(s);
  rt::detector::release(s);
  return sem_result(ask(Op::sem_post, s, RACELAB_SITE));
}

int sem_getvalue(sem_t* s, int* value) noexcept {
  RACELAB_REAL(sem_getvalue);
  if (!rt::controlled()) return real_sem_getvalue(s, value);
  auto reply = ask(Op::sem_getvalue, s, RACELAB_SITE);
  *value = static_cast<int>(reply.value);
  return sem_result(reply);
}

int sem_destroy(sem_t* s) noexcept {
  RACELAB_REAL(sem_destroy);
  if (rt::controlled()) {
    int rc = sem_result(ask(Op::sem_destroy, s, RACELAB_SITE));
    if (rc != 0) return rc;
  }
  return real_sem_destroy(s);
}

// --- sleeping, yielding, time -----------------------------------------------------------------

int nanosleep(const timespec* req, timespec* rem) {
  RACELAB_REAL(nanosleep);
  if (!rt::controlled()) return real_nanosleep(req, rem);
  if (bad_timespec(req) || req->tv_sec < 0) {
    errno = EINVAL;
    return -1;
  }
  ask(Op::sleep, nullptr, RACELAB_SITE, static_cast<std::uint64_t>(ns_of(*req)));
  if (rem != nullptr) *rem = timespec{};
  return 0;
}

int clock_nanosleep(clockid_t clock, int flags, const timespec* req, timespec* rem) {
  RACELAB_REAL(clock_nanosleep);
  if (!rt::controlled() || !virtual_clock(clock)) return real_clock_nanosleep(clock, flags, req, rem);
  if (bad_timespec(req) || req->tv_sec < 0) return EINVAL;
  std::uint64_t ns =
      (flags & TIMER_ABSTIME) != 0 ? timeout_until(clock, req) : static_cast<std::uint64_t>(ns_of(*req));
  ask(Op::sleep, nullptr, RACELAB_SITE, ns);
  if (rem != nullptr && (flags & TIMER_ABSTIME) == 0) *rem = timespec{};
  return 0;
}

unsigned sleep(unsigned seconds) {
  RACELAB_REAL(sleep);
  if (!rt::controlled()) return real_sleep(seconds);
  ask(Op::sleep, nullptr, RACELAB_SITE, std::uint64_t{seconds} * 1'000'000'000);
  return 0;
}

int usleep(useconds_t us) {
  RACELAB_REAL(usleep);
  if (!rt::controlled()) return real_usleep(us);
  ask(Op::sleep, nullptr, RACELAB_SITE, std::uint64_t{us} * 1'000);
  return 0;
}

int sched_yield() noexcept {
  RACELAB_REAL(sched_yield);
  if (!rt::controlled()) return real_sched_yield();
  ask(Op::yield, nullptr, RACELAB_SITE);
  return 0;
}

int clock_gettime(clockid_t clock, timespec* t) noexcept {
  RACELAB_REAL(clock_gettime);
  if (!rt::controlled() || !virtual_clock(clock)) return real_clock_gettime(clock, t);
  auto ns = clock_now_ns(clock);
  t->tv_sec = ns / 1'000'000'000;
  t->tv_nsec = ns % 1'000'000'000;
  return 0;
}

int gettimeofday(timeval* tv, void* tz) noexcept {
  RACELAB_REAL(gettimeofday);
  if (!rt::controlled()) return real_gettimeofday(tv, tz);
  auto ns = clock_now_ns(CLOCK_REALTIME);
  tv->tv_sec = ns / 1'000'000'000;
  tv->tv_usec = (ns % 1'000'000'000) / 1'000;
  return 0;
}

time_t time(time_t* out) noexcept {
  RACELAB_REAL(time);
  if (!rt::controlled()) return real_time(out);
  time_t now = clock_now_ns(CLOCK_REALTIME) / 1'000'000'000;
  if (out != nullptr) *out = now;
  return now;
}

// --- the end of a run -------------------------------------------------------------------------

void exit(int status) noexcept {
  RACELAB_REAL(exit);
  rt::process_exit(status);
  real_exit(status);
  __builtin_unreachable();
}

void abort() noexcept {
  RACELAB_REAL(abort);
  rt::crash(SIGABRT, "abort() was called", RACELAB_SITE);
  real_abort();
  __builtin_unreachable();
}

void __assert_fail(const char* assertion, const char* file, unsigned line, const char* function) noexcept {
  RACELAB_REAL(__assert_fail);
  if (rt::controlled()) {
    // glibc's message first, so that the run's captured output has it before the driver, told
    // of the crash, ends the run; then the abort, as glibc's __assert_fail would.
    std::fprintf(stderr, "%s%s%s:%u: %s%sAssertion `%s' failed.\n", program_invocation_short_name,
                 *program_invocation_short_name ? ": " : "", file, line, function ? function : "",
                 function ? ": " : "", assertion);
    if (function == nullptr) function = "?";
    std::fflush(stderr);
    std::string what = std::string("assertion `") + assertion + "' failed in " + function + " (" + file +
                       ':' + std::to_string(line) + ')';
    rt::crash(0, what, RACELAB_SITE);
    RACELAB_REAL(abort);
    real_abort();
  }
  real___assert_fail(assertion, file, line, function);
  __builtin_unreachable();
}

}  // extern "C"
