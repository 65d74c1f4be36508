// The ThreadSanitizer ABI: the entry points that `-fsanitize=thread` code calls (GCC 12, Clang 14),
// defined here instead of in libtsan so that a program compiled for TSan runs under racelab.
//
// Defined (extern "C", default visibility):
// - __tsan_init; __tsan_func_entry/exit (the shadow call stack for race reports).
// - Plain accesses: __tsan_{read,write}{1,2,4,8,16}, their _pc forms, __tsan_unaligned_*,
//   __tsan_{read,write}_range[_pc], __tsan_vptr_update/read. A scheduling point when the pc is a
//   point this run (or every access is), then the detector's check when it is on.
// - Atomics: __tsan_atomic{8,16,32,64,128}_{load,store,exchange,fetch_*,compare_exchange_*} and the
//   two fences. Every operation is a scheduling point, then runs on the hardware atomic.
// - Annotations: __tsan_acquire/release, __tsan_ignore_thread_begin/end, __tsan_mutex_* (custom
//   mutexes), __tsan_external_* (library objects), __tsan_flush_memory, and the dynamic annotations
//   (Annotate*) that Abseil, Folly and Chromium-derived code call when built with TSan.
// Deliberately left out, so a program that needs them fails to link instead of misbehaving:
// - Fibers (__tsan_create_fiber, switch_to_fiber, ...): racelab schedules threads, and a fiber switch
//   it does not see would make the schedule and the shadow stacks wrong.
// - The report API (__tsan_get_report_*, __tsan_on_report, __tsan_locate_address, ...): reports go
//   to the driver, not to an in-process callback.
// - Java (__tsan_java_*) and Go (__tsan_go_*): other runtimes' ABIs.
// - Options and test hooks (__tsan_default_options, __tsan_testonly_*): libtsan's own knobs.
// - Annotate*: the expected-race, PCQ, trace and Valgrind queries (AnnotateExpectRace,
//   AnnotatePCQ*, AnnotateTraceMemory, RunningOnValgrind, ThreadSanitizerQuery, WTF*): test-only or
//   obsolete, and code that checks for them declares them weak.
//
// The memory model: every atomic operation runs at seq_cst whatever order the program asked for,
// and the detector treats it as seq_cst: a load acquires the location's clock, a store releases
// it, a read-modify-write does both, a failed compare-exchange only acquires. The order the program
// asked for is not used, so races that only a weaker order allows (data published by a relaxed
// store) are not reported. Fences are run but not modelled: under seq_cst atomics they add no
// ordering. A load does not release, so two threads that only read the same atomic stay unordered.
//
// Who calls: the program's threads, controlled or not. Everything but the shadow stack is skipped
// outside a run (!g_controlled) and on an uncontrolled thread (current_tid() == kNoTid); the real
// atomic operation always runs, since uncontrolled threads run in parallel.
#include <cstddef>
#include <cstdint>

#include "atomic_kind.hpp"
#include "channel.hpp"
#include "detector.hpp"
#include "runtime.hpp"

namespace {

using racelab::rt::AtomicKind;
namespace rt = racelab::rt;
namespace detector = racelab::rt::detector;
namespace wire = racelab::rt::wire;

// The instruction after the call into us: the access's pc in the program.
#define RACELAB_PC reinterpret_cast<std::uint64_t>(__builtin_return_address(0))

// --- plain accesses -----------------------------------------------------------------------------

// An access in a run that may stop here or detects: out of line so that the common case below
// needs no stack frame (it is a tail call).
[[gnu::noinline]] void plain_slow(const void* addr, std::size_t size, bool write, std::uint64_t pc) noexcept {
  if ((rt::g_all_accesses || (rt::g_point_pc_count != 0 && rt::is_point_pc(pc))) &&
      rt::current_tid() != wire::kNoTid) {
    rt::access_point(write ? wire::Op::write : wire::Op::read, pc, addr, size);
  }
  if (rt::g_detect) detector::on_access(pc, addr, size, write, false);
}

// The hot path: outside a run, one load and a branch; in a run that neither stops at accesses nor
// detects, four loads and no call.
[[gnu::always_inline]] inline void plain(const void* addr, std::size_t size, bool write,
                                         std::uint64_t pc) noexcept {
  if (!rt::g_controlled) return;
  if (rt::g_all_accesses || rt::g_point_pc_count != 0 || rt::g_detect) plain_slow(addr, size, write, pc);
}

// --- atomics ------------------------------------------------------------------------------------

// The part of an atomic operation before it runs: the scheduling point, then the acquire and the
// race check (after the point: other threads may run during it). True when the operation must
// release afterwards (atomic_after).
[[gnu::noinline]] bool atomic_before(AtomicKind kind, const volatile void* a, std::size_t size, bool write,
                                     bool acquires, std::uint64_t pc) noexcept {
  if (!rt::g_controlled || rt::current_tid() == wire::kNoTid) return false;
  const auto* addr = const_cast<const void*>(a);
  rt::access_point(wire::Op::atomic_op, pc, addr, static_cast<std::uint64_t>(kind));
  if (!rt::g_detect) return false;
  if (acquires) detector::acquire(addr);
  detector::on_access(pc, addr, size, write, true);
  return true;
}

inline void atomic_after(bool tracked, const volatile void* a) noexcept {
  if (tracked) detector::release(const_cast<const void*>(a));
}

// 16-byte operations are libatomic calls by design (GCC never inlines them, Clang only with
// -mcx16); Clang's warning that they are slower than lock-free ones says nothing new.
#if defined(__clang__)
#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Watomic-alignment"
#endif

template <class T>
T load(const volatile T* a, std::uint64_t pc) noexcept {
  atomic_before(AtomicKind::load, a, sizeof(T), false, true, pc);
  return __atomic_load_n(a, __ATOMIC_SEQ_CST);
}

template <class T>
void store(volatile T* a, T v, std::uint64_t pc) noexcept {
  const bool tracked = atomic_before(AtomicKind::store, a, sizeof(T), true, false, pc);
  __atomic_store_n(a, v, __ATOMIC_SEQ_CST);
  atomic_after(tracked, a);
}

template <AtomicKind kKind, class T>
T rmw(volatile T* a, T v, std::uint64_t pc) noexcept {
  const bool tracked = atomic_before(kKind, a, sizeof(T), true, true, pc);
  T old;
  if constexpr (kKind == AtomicKind::exchange) old = __atomic_exchange_n(a, v, __ATOMIC_SEQ_CST);
  if constexpr (kKind == AtomicKind::fetch_add) old = __atomic_fetch_add(a, v, __ATOMIC_SEQ_CST);
  if constexpr (kKind == AtomicKind::fetch_sub) old = __atomic_fetch_sub(a, v, __ATOMIC_SEQ_CST);
  if constexpr (kKind == AtomicKind::fetch_and) old = __atomic_fetch_and(a, v, __ATOMIC_SEQ_CST);
  if constexpr (kKind == AtomicKind::fetch_or) old = __atomic_fetch_or(a, v, __ATOMIC_SEQ_CST);
  if constexpr (kKind == AtomicKind::fetch_xor) old = __atomic_fetch_xor(a, v, __ATOMIC_SEQ_CST);
  if constexpr (kKind == AtomicKind::fetch_nand) old = __atomic_fetch_nand(a, v, __ATOMIC_SEQ_CST);
  atomic_after(tracked, a);
  return old;
}

// Always the strong form: a spurious failure of a weak one would be nondeterminism that no
// schedule controls (x86 never fails spuriously anyway).
template <class T>
bool cas(volatile T* a, T* expected, T desired, std::uint64_t pc) noexcept {
  const bool tracked = atomic_before(AtomicKind::cas, a, sizeof(T), true, true, pc);
  const bool ok =
      __atomic_compare_exchange_n(a, expected, desired, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
  atomic_after(tracked && ok, a);
  return ok;
}

#if defined(__clang__)
#pragma clang diagnostic pop
#endif

// --- annotations --------------------------------------------------------------------------------

// Happens-before annotations count only in a run with the detector on, on a controlled thread (the
// detector checks the thread).
inline bool hb_on() noexcept { return rt::g_controlled && rt::g_detect; }

void hb_acquire(const volatile void* addr) noexcept {
  if (hb_on()) detector::acquire(const_cast<const void*>(addr));
}

void hb_release(const volatile void* addr) noexcept {
  if (hb_on()) detector::release(const_cast<const void*>(addr));
}

void ignore(detector::Ignore what, bool begin) noexcept {
  if (!rt::g_controlled) return;
  begin ? detector::ignore_begin(what) : detector::ignore_end(what);
}

constexpr unsigned kMutexTryLockFailed = 1u << 5;  // __tsan_mutex_try_lock_failed

}  // namespace

#define RACELAB_ABI extern "C" [[gnu::visibility("default")]]

// The runtime starts itself (channel.cpp); every instrumented module's constructor calls this.
// Called by every instrumented module's constructor: tells the driver the program was compiled for racelab.
RACELAB_ABI void __tsan_init() { rt::mark_instrumented(); }

// libtsan drops its shadow here to save memory; ours is bounded already (detector.hpp).
RACELAB_ABI void __tsan_flush_memory() {}

RACELAB_ABI void __tsan_func_entry(void* call_pc) {
  detector::func_entry(reinterpret_cast<std::uint64_t>(call_pc));
}
RACELAB_ABI void __tsan_func_exit() { detector::func_exit(); }

// --- plain accesses -----------------------------------------------------------------------------

#define RACELAB_PLAIN(n)                                                             \
  RACELAB_ABI void __tsan_read##n(void* addr) { plain(addr, n, false, RACELAB_PC); } \
  RACELAB_ABI void __tsan_write##n(void* addr) { plain(addr, n, true, RACELAB_PC); } \
  RACELAB_ABI void __tsan_read##n##_pc(void* addr, void* pc) {                       \
    plain(addr, n, false, reinterpret_cast<std::uint64_t>(pc));                      \
  }                                                                                  \
  RACELAB_ABI void __tsan_write##n##_pc(void* addr, void* pc) {                      \
    plain(addr, n, true, reinterpret_cast<std::uint64_t>(pc));                       \
  }
RACELAB_PLAIN(1)
RACELAB_PLAIN(2)
RACELAB_PLAIN(4)
RACELAB_PLAIN(8)
RACELAB_PLAIN(16)
#undef RACELAB_PLAIN

#define RACELAB_UNALIGNED(n)                                                                         \
  RACELAB_ABI void __tsan_unaligned_read##n(const void* addr) { plain(addr, n, false, RACELAB_PC); } \
  RACELAB_ABI void __tsan_unaligned_write##n(void* addr) { plain(addr, n, true, RACELAB_PC); }
RACELAB_UNALIGNED(2)
RACELAB_UNALIGNED(4)
RACELAB_UNALIGNED(8)
RACELAB_UNALIGNED(16)
#undef RACELAB_UNALIGNED

RACELAB_ABI void __tsan_read_range(void* addr, unsigned long size) { plain(addr, size, false, RACELAB_PC); }
RACELAB_ABI void __tsan_write_range(void* addr, unsigned long size) { plain(addr, size, true, RACELAB_PC); }
RACELAB_ABI void __tsan_read_range_pc(void* addr, unsigned long size, void* pc) {
  plain(addr, size, false, reinterpret_cast<std::uint64_t>(pc));
}
RACELAB_ABI void __tsan_write_range_pc(void* addr, unsigned long size, void* pc) {
  plain(addr, size, true, reinterpret_cast<std::uint64_t>(pc));
}

// A constructor re-storing the vptr its base constructor stored is no write for race purposes
// (libtsan skips it the same way); the compiler does the store itself after this call.
RACELAB_ABI void __tsan_vptr_update(void** vptr, void* new_val) {
  if (*vptr != new_val) plain(vptr, sizeof(void*), true, RACELAB_PC);
}
RACELAB_ABI void __tsan_vptr_read(void** vptr) { plain(vptr, sizeof(void*), false, RACELAB_PC); }

// --- atomics ------------------------------------------------------------------------------------
// The memory-order arguments are ignored: everything runs at seq_cst (see the top of the file).

__extension__ typedef unsigned __int128 racelab_u128;

#define RACELAB_ATOMIC(bits, T)                                                                       \
  RACELAB_ABI T __tsan_atomic##bits##_load(const volatile T* a, int) { return load(a, RACELAB_PC); }  \
  RACELAB_ABI void __tsan_atomic##bits##_store(volatile T* a, T v, int) { store(a, v, RACELAB_PC); }  \
  RACELAB_ABI T __tsan_atomic##bits##_exchange(volatile T* a, T v, int) {                             \
    return rmw<AtomicKind::exchange>(a, v, RACELAB_PC);                                               \
  }                                                                                                   \
  RACELAB_ABI T __tsan_atomic##bits##_fetch_add(volatile T* a, T v, int) {                            \
    return rmw<AtomicKind::fetch_add>(a, v, RACELAB_PC);                                              \
  }                                                                                                   \
  RACELAB_ABI T __tsan_atomic##bits##_fetch_sub(volatile T* a, T v, int) {                            \
    return rmw<AtomicKind::fetch_sub>(a, v, RACELAB_PC);                                              \
  }                                                                                                   \
  RACELAB_ABI T __tsan_atomic##bits##_fetch_and(volatile T* a, T v, int) {                            \
    return rmw<AtomicKind::fetch_and>(a, v, RACELAB_PC);                                              \
  }                                                                                                   \
  RACELAB_ABI T __tsan_atomic##bits##_fetch_or(volatile T* a, T v, int) {                             \
    return rmw<AtomicKind::fetch_or>(a, v, RACELAB_PC);                                               \
  }                                                                                                   \
  RACELAB_ABI T __tsan_atomic##bits##_fetch_xor(volatile T* a, T v, int) {                            \
    return rmw<AtomicKind::fetch_xor>(a, v, RACELAB_PC);                                              \
  }                                                                                                   \
  RACELAB_ABI T __tsan_atomic##bits##_fetch_nand(volatile T* a, T v, int) {                           \
    return rmw<AtomicKind::fetch_nand>(a, v, RACELAB_PC);                                             \
  }                                                                                                   \
  RACELAB_ABI int __tsan_atomic##bits##_compare_exchange_strong(volatile T* a, T* c, T v, int, int) { \
    return cas(a, c, v, RACELAB_PC);                                                                  \
  }                                                                                                   \
  RACELAB_ABI int __tsan_atomic##bits##_compare_exchange_weak(volatile T* a, T* c, T v, int, int) {   \
    return cas(a, c, v, RACELAB_PC);                                                                  \
  }                                                                                                   \
  RACELAB_ABI T __tsan_atomic##bits##_compare_exchange_val(volatile T* a, T c, T v, int, int) {       \
    cas(a, &c, v, RACELAB_PC); /* c becomes the old value on failure and is it on success */          \
    return c;                                                                                         \
  }
RACELAB_ATOMIC(8, std::uint8_t)
RACELAB_ATOMIC(16, std::uint16_t)
RACELAB_ATOMIC(32, std::uint32_t)
RACELAB_ATOMIC(64, std::uint64_t)
RACELAB_ATOMIC(128, racelab_u128)  // libatomic (__atomic_*_16): GCC never inlines 16-byte atomics
#undef RACELAB_ATOMIC

RACELAB_ABI void __tsan_atomic_thread_fence(int) { __atomic_thread_fence(__ATOMIC_SEQ_CST); }
RACELAB_ABI void __tsan_atomic_signal_fence(int) { __atomic_signal_fence(__ATOMIC_SEQ_CST); }

// --- annotations: __tsan_* ----------------------------------------------------------------------

RACELAB_ABI void __tsan_acquire(void* addr) { hb_acquire(addr); }
RACELAB_ABI void __tsan_release(void* addr) { hb_release(addr); }

RACELAB_ABI void __tsan_ignore_thread_begin() { ignore(detector::Ignore::accesses, true); }
RACELAB_ABI void __tsan_ignore_thread_end() { ignore(detector::Ignore::accesses, false); }

// A custom mutex (Abseil's, say) annotated for TSan: lock acquires, unlock releases. The mutex's
// own atomics are instrumented too and are the scheduling points. pre/post_signal and _divert
// bracket code the mutex runs on others' behalf; libtsan stops attributing sync to the mutex there,
// which needs nothing from a model without lock sets.
RACELAB_ABI void __tsan_mutex_create(void*, unsigned) {}
RACELAB_ABI void __tsan_mutex_destroy(void*, unsigned) {}
RACELAB_ABI void __tsan_mutex_pre_lock(void*, unsigned) {}
RACELAB_ABI void __tsan_mutex_post_lock(void* addr, unsigned flags, int) {
  if ((flags & kMutexTryLockFailed) == 0) hb_acquire(addr);
}
RACELAB_ABI int __tsan_mutex_pre_unlock(void* addr, unsigned) {
  hb_release(addr);
  return 0;  // the recursion count: we do not unwind recursive locks
}
RACELAB_ABI void __tsan_mutex_post_unlock(void*, unsigned) {}
RACELAB_ABI void __tsan_mutex_pre_signal(void*, unsigned) {}
RACELAB_ABI void __tsan_mutex_post_signal(void*, unsigned) {}
RACELAB_ABI void __tsan_mutex_pre_divert(void*, unsigned) {}
RACELAB_ABI void __tsan_mutex_post_divert(void*, unsigned) {}

// External objects (a library's container accessed through its API): a 1-byte access at the
// object's address, called from `caller_pc`, like libtsan. Tags only name the object type in
// libtsan's reports, so any distinct non-null value serves.
RACELAB_ABI void* __tsan_external_register_tag(const char*) {
  static std::uintptr_t next = 0;  // atomically: uncontrolled threads may register concurrently
  return reinterpret_cast<void*>(__atomic_add_fetch(&next, 1, __ATOMIC_RELAXED));
}
RACELAB_ABI void __tsan_external_register_header(void*, const char*) {}
RACELAB_ABI void __tsan_external_assign_tag(void*, void*) {}
RACELAB_ABI void __tsan_external_read(void* addr, void* caller_pc, void*) {
  detector::func_entry(reinterpret_cast<std::uint64_t>(caller_pc));
  plain(addr, 1, false, RACELAB_PC);
  detector::func_exit();
}
RACELAB_ABI void __tsan_external_write(void* addr, void* caller_pc, void*) {
  detector::func_entry(reinterpret_cast<std::uint64_t>(caller_pc));
  plain(addr, 1, true, RACELAB_PC);
  detector::func_exit();
}

// --- annotations: the dynamic-annotations API (Annotate*) ---------------------------------------

using File = const char*;
using Addr = const volatile void*;

RACELAB_ABI void AnnotateHappensBefore(File, int, Addr addr) { hb_release(addr); }
RACELAB_ABI void AnnotateHappensAfter(File, int, Addr addr) { hb_acquire(addr); }
RACELAB_ABI void AnnotateCondVarSignal(File, int, Addr cv) { hb_release(cv); }
RACELAB_ABI void AnnotateCondVarSignalAll(File, int, Addr cv) { hb_release(cv); }
RACELAB_ABI void AnnotateCondVarWait(File, int, Addr cv, Addr) { hb_acquire(cv); }
RACELAB_ABI void AnnotateRWLockCreate(File, int, Addr) {}
RACELAB_ABI void AnnotateRWLockCreateStatic(File, int, Addr) {}
RACELAB_ABI void AnnotateRWLockDestroy(File, int, Addr) {}
RACELAB_ABI void AnnotateRWLockAcquired(File, int, Addr lock, long) { hb_acquire(lock); }
RACELAB_ABI void AnnotateRWLockReleased(File, int, Addr lock, long) { hb_release(lock); }
RACELAB_ABI void AnnotateMutexIsUsedAsCondVar(File, int, Addr) {}
RACELAB_ABI void AnnotateMutexIsNotPHB(File, int, Addr) {}

RACELAB_ABI void AnnotateBenignRaceSized(File, int, Addr addr, std::size_t size, const char*) {
  detector::benign_range(const_cast<const void*>(addr), size);
}
RACELAB_ABI void AnnotateBenignRace(File, int, Addr addr, const char*) {
  detector::benign_range(const_cast<const void*>(addr), 1);
}
// Memory that is new again (a pool handing out a recycled block): its old accesses are forgotten.
RACELAB_ABI void AnnotateNewMemory(File, int, Addr addr, std::size_t size) {
  if (hb_on()) detector::forget_range(const_cast<const void*>(addr), size);
}

RACELAB_ABI void AnnotateIgnoreReadsBegin(File, int) { ignore(detector::Ignore::reads, true); }
RACELAB_ABI void AnnotateIgnoreReadsEnd(File, int) { ignore(detector::Ignore::reads, false); }
RACELAB_ABI void AnnotateIgnoreWritesBegin(File, int) { ignore(detector::Ignore::writes, true); }
RACELAB_ABI void AnnotateIgnoreWritesEnd(File, int) { ignore(detector::Ignore::writes, false); }
RACELAB_ABI void AnnotateIgnoreSyncBegin(File, int) { ignore(detector::Ignore::sync, true); }
RACELAB_ABI void AnnotateIgnoreSyncEnd(File, int) { ignore(detector::Ignore::sync, false); }

// Accepted and ignored: names, publication (a no-op in libtsan too), msan-compatible hints.
RACELAB_ABI void AnnotateThreadName(File, int, const char*) {}
RACELAB_ABI void AnnotatePublishMemoryRange(File, int, Addr, std::size_t) {}
RACELAB_ABI void AnnotateUnpublishMemoryRange(File, int, Addr, std::size_t) {}
RACELAB_ABI void AnnotateMemoryIsInitialized(File, int, Addr, std::size_t) {}
RACELAB_ABI void AnnotateMemoryIsUninitialized(File, int, Addr, std::size_t) {}
RACELAB_ABI void AnnotateEnableRaceDetection(File, int, int) {}
RACELAB_ABI void AnnotateFlushState(File, int) {}
RACELAB_ABI void AnnotateNoOp(File, int, Addr) {}
