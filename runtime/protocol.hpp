// The wire between racelab_rt (inside the program) and the driver (`racelab run`).
//
// One shared-memory page set per program, created by the driver and inherited by the program's
// fork server and every run it forks. Exactly one program thread runs at a time: it writes a
// request into its slot and waits on its slot; the driver's scheduler core decides, writes a
// reply into the slot of the thread that runs next and wakes it. A reply carries the virtual
// clock, so the program reads time without asking. Both sides wait on the slot's state word (see
// Slot): a bounded spin when they run on CPUs of their own, then a futex wait, and each side
// calls FUTEX_WAKE only when the other one said it sleeps.
//
// The fork server (the program's main thread before `main`) takes commands on a pipe: 'F' forks
// a run and answers its pid; when the run ends it answers the wait status and the run's output.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace racelab::rt::wire {

inline constexpr std::uint32_t kMagic = 0x52'4c'52'54;  // "RLRT"
inline constexpr std::uint32_t kVersion = 6;
inline constexpr std::uint32_t kMaxThreads = 256;
inline constexpr std::uint32_t kMaxPointPcs = 4096;
inline constexpr std::uint32_t kTextMax = 16384;
inline constexpr std::uint32_t kNoTid = 0xffff'ffff;
// The environment variable that tells racelab_rt it runs under `racelab run`:
// "SHMFD,CMDFD,ANSFD,UNSET_BIND_NOW" (file descriptors inherited from the driver; 1 when the
// driver set LD_BIND_NOW, which racelab_rt then unsets).
inline constexpr const char* kEnv = "RACELAB_RT";

enum class Op : std::uint32_t {
  none,
  // threads
  thread_create,  // reply.value: the new thread's id
  thread_join,    // arg0: the joined thread's id
  thread_detach,  // arg0: the thread's id
  thread_exit,    // the thread's function returned (no reply)
  process_exit,   // main returned or exit() was called; arg0: status (no reply)
  // mutexes (obj: the mutex's address; arg0: kind, see MutexKind)
  mutex_lock,
  mutex_trylock,
  mutex_timedlock,  // arg1: timeout, ns of virtual time from now
  mutex_unlock,
  mutex_destroy,
  rwlock_rdlock,
  rwlock_wrlock,
  rwlock_tryrdlock,
  rwlock_trywrlock,
  rwlock_timedrdlock,
  rwlock_timedwrlock,
  rwlock_unlock,
  rwlock_destroy,
  cond_wait,       // obj: cond; arg0: mutex; arg2: mutex kind
  cond_timedwait,  // as cond_wait; arg1: timeout ns
  cond_signal,
  cond_broadcast,
  cond_destroy,
  barrier_init,  // arg0: count
  barrier_wait,
  barrier_destroy,
  sem_init,  // arg0: value
  sem_wait,
  sem_trywait,
  sem_timedwait,  // arg1: timeout ns
  sem_post,
  sem_destroy,
  sem_getvalue,  // reply.value
  once_begin,    // reply.value 1: run the initialiser; 0: already done
  once_end,
  once_abort,  // the initialiser threw: not done, the next caller runs it
  sleep,       // arg0: ns
  yield,
  // memory
  atomic_op,  // a scheduling point before an atomic operation; arg0: AtomicKind
  read,       // a scheduling point before a racy plain read (arg0: size)
  write,      // ... a racy plain write
  // databases (a statement the program runs through SQLite or libpq)
  db_statement,  // text: the SQL; arg0: DbApi. The statement's scheduling point, before it runs
  db_done,       // the statement returned (its locks may be free); not a scheduling point
  db_blocked,    // the statement waits for a lock another connection holds: wait until one is done
  // reports
  race,   // text: the race report (see detector); no scheduling point
  crash,  // arg0: signal (or 0 for a failed assertion); text: what happened (no reply)
  note,   // text: a note for the run's outcome (an uncontrolled call, say)
};

enum class DbApi : std::uint32_t { sqlite = 0, libpq = 1 };

// Request::flags
// The call is made inside a database call (SQLite's own mutexes): modelled, but not a scheduling
// point, so that a statement is one step however the library implements it.
inline constexpr std::uint32_t kQuiet = 1;
// Request::pc of a call a database library made on its own behalf (not from a statement).
inline constexpr std::uint64_t kLibrarySite = 1;

enum class MutexKind : std::uint32_t { normal = 0, recursive = 1, errorcheck = 2, spin = 3 };

struct Request {
  Op op = Op::none;
  std::uint32_t tid = kNoTid;
  std::uint64_t obj = 0;
  std::uint64_t arg0 = 0;
  std::uint64_t arg1 = 0;
  std::uint64_t arg2 = 0;
  std::uint64_t pc = 0;  // where the program made the call (an address in its own code)
  std::uint32_t text_len = 0;
  std::uint32_t flags = 0;  // kQuiet
};

struct Reply {
  std::int32_t result = 0;  // 0 or an errno value, as the pthread call returns it
  std::uint32_t pad = 0;
  std::uint64_t value = 0;
  std::int64_t now_ns = 0;  // the virtual clock
};

// The low byte of Slot::state.
enum class SlotState : std::uint32_t { idle = 0, request = 1, reply = 2 };
inline constexpr std::uint32_t kStateMask = 0xff;
// Flags above it. The program thread sets kThreadSleeps before it FUTEX_WAITs for a reply, the
// driver sets kDriverSleeps before it FUTEX_WAITs for a request (each with a compare-and-swap from
// the value it checked, so a wake cannot be lost); whoever changes the state next sees the flag
// in the value it replaced and wakes the word. kParked: the driver runs another thread, so this
// one's reply is far off: it stops spinning and sleeps at once.
inline constexpr std::uint32_t kThreadSleeps = 1u << 8;
inline constexpr std::uint32_t kDriverSleeps = 1u << 9;
inline constexpr std::uint32_t kParked = 1u << 10;
// kSpinning: set with request by a thread that now spins for its reply (it clears it in the
// compare-and-swap that sets kThreadSleeps). kRelay: set by the driver, with kParked, on the
// word of a thread that spins, once it has replied to another thread (Slot::relay_to) that
// sleeps: the spinning thread wakes that one itself, then sleeps. Both run on the program's CPU,
// so the wake-up is a local one, not one sent from the driver's CPU to the program's.
inline constexpr std::uint32_t kSpinning = 1u << 11;
inline constexpr std::uint32_t kRelay = 1u << 12;

// One program thread's mailbox. Ownership alternates: the thread writes `req` and `text`, then
// stores request (release); the driver reads them after an acquire load that sees request, writes
// `rep`, then stores reply (release); the thread reads `rep` after an acquire load that sees reply.
struct Slot {
  std::atomic<std::uint32_t> state{0};  // SlotState | flags; the futex word both sides wait on
  // How long the thread spins for its reply before it sleeps, in TSC ticks (0: it sleeps at
  // once). Written by the driver (relaxed: it is a hint, any value is safe), read by the thread.
  std::atomic<std::uint32_t> spin_ticks{0};
  // The CPU the thread runs on (-1: wherever it is); the thread moves itself there when it wakes.
  // Written by the driver, which moves the program next to it when their CPUs are contended.
  std::atomic<std::int32_t> cpu{-1};
  // The thread whose wake-up this one makes (kRelay). Written by the driver before it sets kRelay
  // (release), read by this thread after it sees it (acquire).
  std::atomic<std::uint32_t> relay_to{kNoTid};
  Request req;
  Reply rep;
  char text[kTextMax];
};

// Run options, written by the driver before each fork.
struct RunConfig {
  std::uint32_t detect_races = 1;  // the race detector is on in this run
  std::uint32_t all_accesses = 0;  // every instrumented access is a scheduling point
  std::uint32_t point_pc_count = 0;
  std::uint32_t pad = 0;
  std::uint64_t point_pcs[kMaxPointPcs];  // racy instructions that are scheduling points, sorted
};

struct Shared {
  std::uint32_t magic = kMagic;
  std::uint32_t version = kVersion;
  std::uint32_t databases = 0;     // libsqlite3 or libpq is loaded in the program
  std::uint32_t instrumented = 0;  // the program calls __tsan_init (it was compiled for racelab)
  std::uint64_t exe_base = 0;      // load address of the program's executable (for symbols)
  RunConfig config;
  Slot slots[kMaxThreads];
};

static_assert(std::atomic<std::uint32_t>::is_always_lock_free);

}  // namespace racelab::rt::wire
