// racelab_rt's side of the wire: the fork server before `main`, the handshake of each run, and
// the request/reply handoff that lets exactly one program thread run at a time.
//
// `racelab run` starts the program with RACELAB_RT set. Our __libc_start_main (the executable's
// call to it binds here: racelab_rt comes before libc in the lookup order) wraps `main`: the
// wrapper becomes a fork server, and each forked child is one run, its main thread task 0.
// Without RACELAB_RT the program runs as it is, every interposed call passing through.
#include "channel.hpp"

#include <dlfcn.h>
#include <execinfo.h>
#include <link.h>
#include <linux/futex.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <set>
#include <string>
#include <utility>

namespace racelab::rt {

bool g_controlled = false;
bool g_detect = false;
bool g_all_accesses = false;
std::uint32_t g_point_pc_count = 0;

namespace {

wire::Shared* g_shared = nullptr;
int g_cmd_fd = -1;
int g_ans_fd = -1;
std::uintptr_t g_exe_lo = 0;
std::uintptr_t g_exe_hi = 0;
thread_local std::uint32_t t_tid = wire::kNoTid;
thread_local std::int32_t t_cpu = -1;  // the CPU this thread pinned itself to (move_to), -1: none
// Set while the runtime itself runs code that may call interposed functions (the unwinder takes
// pthread mutexes): those calls pass through.
thread_local bool t_inside = false;
std::int64_t g_now_ns = 0;
bool g_instrumented = false;  // __tsan_init ran (module constructors run before main)
bool g_crashed = false;       // this run's crash was reported to the driver

long futex(std::atomic<std::uint32_t>* word, int op, std::uint32_t value, const timespec* timeout = nullptr) {
  // Not FUTEX_PRIVATE_FLAG: the word is in a mapping shared with the driver's process.
  return syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(word), op, value, timeout, nullptr, 0);
}

constexpr std::uint32_t state_of(std::uint32_t word) { return word & wire::kStateMask; }
constexpr auto kRequest = static_cast<std::uint32_t>(wire::SlotState::request);
constexpr auto kReply = static_cast<std::uint32_t>(wire::SlotState::reply);

// The spin's clock: the TSC, which needs no system call (and is not the program's clock_gettime,
// which racelab_rt interposes). Elsewhere the thread does not spin.
#if defined(__x86_64__)
std::uint64_t ticks() noexcept { return __builtin_ia32_rdtsc(); }
void relax() noexcept { __builtin_ia32_pause(); }
constexpr bool kCanSpin = true;
#else
std::uint64_t ticks() noexcept { return 0; }
void relax() noexcept {}
constexpr bool kCanSpin = false;
#endif

// Pins the calling thread to `cpu` (the driver's choice, see Slot::cpu) unless it is there.
// g_cpu: the CPU of the thread that runs, which a thread it creates inherits (adopt_thread).
std::int32_t g_cpu = -1;
void move_to(std::int32_t cpu) noexcept {
  if (cpu != t_cpu) {
    t_cpu = cpu;
    if (cpu >= 0) {
      cpu_set_t set;
      CPU_ZERO(&set);
      CPU_SET(cpu, &set);
      sched_setaffinity(0, sizeof set, &set);
    }
  }
  g_cpu = t_cpu;
}

// Waits until the driver hands `slot` a reply (this thread runs again). A thread that posted
// with kSpinning spins for up to the slot's spin_ticks unless the driver parks it; then it sleeps
// on the state word with kThreadSleeps set (and kSpinning cleared, in one compare-and-swap, so the
// driver either sees it spinning or sees it asleep). A kRelay the driver set meanwhile asks it to
// wake the thread that runs next first. The acquire load that sees reply makes `rep` visible.
void wait_reply(wire::Slot& slot) noexcept {
  auto word = slot.state.load(std::memory_order_acquire);
  bool relayed = false;
  auto relay = [&] {
    if ((word & wire::kRelay) == 0 || relayed) return;
    relayed = true;
    const auto next = slot.relay_to.load(std::memory_order_relaxed);
    if (next < wire::kMaxThreads) futex(&g_shared->slots[next].state, FUTEX_WAKE, INT_MAX);
  };
  if ((word & wire::kSpinning) != 0) {
    const std::uint64_t spin = slot.spin_ticks.load(std::memory_order_relaxed);
    const auto start = ticks();
    while (state_of(word) != kReply && (word & wire::kParked) == 0 && ticks() - start < spin) {
      relax();
      word = slot.state.load(std::memory_order_acquire);
    }
  }
  while (state_of(word) != kReply) {
    relay();
    const auto asleep = (word & ~wire::kSpinning) | wire::kThreadSleeps;
    if (word != asleep && !slot.state.compare_exchange_weak(word, asleep, std::memory_order_acquire))
      continue;  // the word changed (a reply, a park, a relay): look again
    futex(&slot.state, FUTEX_WAIT, asleep);
    word = slot.state.load(std::memory_order_acquire);
  }
  relay();  // the reply came before this thread looked (the next one woke by itself): harmless
  // reply -> idle, keeping nothing but a kDriverSleeps the driver may set from now on.
  slot.state.fetch_and(wire::kDriverSleeps, std::memory_order_relaxed);
  g_now_ns = slot.rep.now_ns;
  move_to(slot.cpu.load(std::memory_order_relaxed));
}

// Publishes a request (release) and wakes the driver if it said it sleeps on the word. `waits`:
// the thread waits for a reply next, spinning if the driver asks threads to (kSpinning).
void post(wire::Slot& slot, wire::Request req, std::string_view text, bool waits) noexcept {
  req.tid = t_tid;
  auto n = std::min<std::size_t>(text.size(), wire::kTextMax);
  std::memcpy(slot.text, text.data(), n);
  req.text_len = static_cast<std::uint32_t>(n);
  slot.req = req;
  const bool spins = kCanSpin && waits && slot.spin_ticks.load(std::memory_order_relaxed) > 0;
  auto old = slot.state.exchange(kRequest | (spins ? wire::kSpinning : 0), std::memory_order_acq_rel);
  if ((old & wire::kDriverSleeps) != 0) futex(&slot.state, FUTEX_WAKE, INT_MAX);
}

bool read_all(int fd, void* data, std::size_t n) {
  auto* p = static_cast<char*>(data);
  while (n > 0) {
    auto got = ::read(fd, p, n);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return false;
    p += got;
    n -= static_cast<std::size_t>(got);
  }
  return true;
}

bool write_all(int fd, const void* data, std::size_t n) {
  const auto* p = static_cast<const char*>(data);
  while (n > 0) {
    auto put = ::write(fd, p, n);
    if (put < 0 && errno == EINTR) continue;
    if (put <= 0) return false;
    p += put;
    n -= static_cast<std::size_t>(put);
  }
  return true;
}

int find_exe(dl_phdr_info* info, std::size_t, void*) {
  // The first object is the executable.
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const auto& ph = info->dlpi_phdr[i];
    if (ph.p_type != PT_LOAD) continue;
    auto lo = info->dlpi_addr + ph.p_vaddr, hi = lo + ph.p_memsz;
    if (g_exe_lo == 0 || lo < g_exe_lo) g_exe_lo = lo;
    g_exe_hi = std::max<std::uintptr_t>(g_exe_hi, hi);
  }
  g_shared->exe_base = info->dlpi_addr;
  return 1;
}

bool in_exe(std::uintptr_t pc) { return pc >= g_exe_lo && pc < g_exe_hi; }

// The database client libraries' code (SQLite, libpq): what they call on their own behalf (their
// mutexes, a connection's setup) is modelled but is not a scheduling point (see db.cpp).
struct Range {
  std::uintptr_t lo, hi;
};
Range g_db_libs[4];
int g_db_lib_count = 0;

int find_db_libs(dl_phdr_info* info, std::size_t, void*) {
  const char* name = info->dlpi_name == nullptr ? "" : info->dlpi_name;
  const char* base = std::strrchr(name, '/');
  base = base == nullptr ? name : base + 1;
  if (std::strncmp(base, "libsqlite3.so", 13) != 0 && std::strncmp(base, "libpq.so", 8) != 0) return 0;
  if (g_db_lib_count == static_cast<int>(std::size(g_db_libs))) return 0;
  Range r{~std::uintptr_t{0}, 0};
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const auto& ph = info->dlpi_phdr[i];
    if (ph.p_type != PT_LOAD) continue;
    r.lo = std::min<std::uintptr_t>(r.lo, info->dlpi_addr + ph.p_vaddr);
    r.hi = std::max<std::uintptr_t>(r.hi, info->dlpi_addr + ph.p_vaddr + ph.p_memsz);
  }
  g_db_libs[g_db_lib_count++] = r;
  return 0;
}

bool in_db_lib(std::uintptr_t pc) {
  for (int i = 0; i < g_db_lib_count; ++i)
    if (pc >= g_db_libs[i].lo && pc < g_db_libs[i].hi) return true;
  return false;
}

// Set by site() for the request the calling thread is about to make.
thread_local bool t_from_db_lib = false;

void on_fatal_signal(int sig, siginfo_t* info, void*) {
  if (controlled()) {
    char text[160];
    std::snprintf(text, sizeof text, "SIG%s (%s) at address %p", sigabbrev_np(sig), sigdescr_np(sig),
                  info->si_addr);
    crash(sig, text, 0, /*from_signal=*/true);
  } else if (!g_crashed) {
    // Outside a run's control (an exit handler, a thread that has left): the raw stack, as is.
    void* frames[32];
    int n = backtrace(frames, 32);
    static const char kHeader[] = "racelab_rt: fatal signal; the thread's stack:\n";
    static_cast<void>(::write(STDERR_FILENO, kHeader, sizeof kHeader - 1));
    backtrace_symbols_fd(frames, n, STDERR_FILENO);
  }
  // SA_RESETHAND restored the default action: returning re-runs the faulting instruction.
  if (sig == SIGABRT || sig == SIGFPE) raise(sig);
}

// A fork() by the program: the child is not part of the run (it would post into its parent's
// slot); it runs on its own, uncontrolled, as under no racelab at all.
void forked_child() {
  g_controlled = false;
  g_detect = false;
  t_tid = wire::kNoTid;
}

// Becomes one run: the forked child's main thread is task 0.
void start_run() {
  pthread_atfork(nullptr, nullptr, forked_child);
  const auto& config = g_shared->config;
  g_detect = config.detect_races != 0;
  g_all_accesses = config.all_accesses != 0;
  g_point_pc_count = config.point_pc_count;
  t_tid = 0;
  detector::reset();
  struct sigaction action {};
  action.sa_sigaction = on_fatal_signal;
  action.sa_flags = SA_SIGINFO | SA_RESETHAND;
  for (int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT}) sigaction(sig, &action, nullptr);
  g_controlled = true;
  wait_reply(g_shared->slots[0]);  // the driver starts main
  detector::thread_started(0);
}

int (*g_main)(int, char**, char**) = nullptr;

int wrapped_main(int argc, char** argv, char** envp) {
  const char* env = std::getenv(wire::kEnv);
  if (env == nullptr) return g_main(argc, argv, envp);
  int shm = -1;
  int unset_bind_now = 0;  // the driver set LD_BIND_NOW (program.cpp): the program was not given it
  if (std::sscanf(env, "%d,%d,%d,%d", &shm, &g_cmd_fd, &g_ans_fd, &unset_bind_now) < 3) {
    std::fprintf(stderr, "racelab_rt: %s='%s' is not SHMFD,CMDFD,ANSFD\n", wire::kEnv, env);
    return 2;
  }
  void* map = mmap(nullptr, sizeof(wire::Shared), PROT_READ | PROT_WRITE, MAP_SHARED, shm, 0);
  if (map == MAP_FAILED) {
    std::perror("racelab_rt: mmap");
    return 2;
  }
  close(shm);
  g_shared = static_cast<wire::Shared*>(map);
  if (g_shared->magic != wire::kMagic || g_shared->version != wire::kVersion) {
    std::fprintf(stderr, "racelab_rt: the driver speaks another protocol version\n");
    return 2;
  }
  g_shared->instrumented = g_instrumented ? 1 : 0;
  unsetenv(wire::kEnv);  // programs this one starts are not under racelab
  if (unset_bind_now == 1) unsetenv("LD_BIND_NOW");
  dl_iterate_phdr(find_exe, nullptr);
  dl_iterate_phdr(find_db_libs, nullptr);
  g_shared->databases = g_db_lib_count > 0 ? 1 : 0;
  void* frames[2];
  backtrace(frames, 2);  // loads the unwinder now, not inside a run
  std::fflush(nullptr);
  std::uint32_t hello[2] = {wire::kMagic, g_shared->instrumented};
  write_all(g_ans_fd, hello, sizeof hello);
  // The fork server: 'F' forks a run; the answer is its pid, then (when it ends) its wait
  // status and output. EOF or 'Q' ends the server.
  for (;;) {
    char cmd = 0;
    if (!read_all(g_cmd_fd, &cmd, 1) || cmd == 'Q') _exit(0);
    move_to(g_shared->slots[0].cpu.load(std::memory_order_relaxed));  // so the run starts where it runs
    int out = memfd_create("racelab-run-output", MFD_CLOEXEC);
    pid_t pid = fork();
    if (pid == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);  // a run dies with its fork server (which dies with racelab)
      if (getppid() == 1) _exit(137);
      close(g_cmd_fd);
      close(g_ans_fd);
      dup2(out, STDOUT_FILENO);
      dup2(out, STDERR_FILENO);
      close(out);
      start_run();
      int rc = g_main(argc, argv, envp);
      process_exit(rc);
      return rc;
    }
    std::int32_t answer[2] = {pid, 0};
    write_all(g_ans_fd, answer, sizeof answer);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    constexpr off_t kOutputMax = 1 << 20;
    off_t size = lseek(out, 0, SEEK_END);
    auto keep = static_cast<std::size_t>(std::clamp<off_t>(size, 0, kOutputMax));
    std::string output(keep, '\0');
    if (keep > 0) static_cast<void>(pread(out, output.data(), keep, size - static_cast<off_t>(keep)));
    close(out);
    answer[0] = status;
    answer[1] = static_cast<std::int32_t>(keep);
    write_all(g_ans_fd, answer, sizeof answer);
    write_all(g_ans_fd, output.data(), output.size());
  }
}

}  // namespace

std::uint32_t current_tid() noexcept { return t_tid; }
bool controlled() noexcept { return g_controlled && t_tid != wire::kNoTid && !t_inside; }
std::int64_t now_ns() noexcept { return g_now_ns; }

bool is_point_pc(std::uint64_t pc) noexcept {
  const auto* begin = g_shared->config.point_pcs;
  return std::binary_search(begin, begin + g_point_pc_count, pc);
}

namespace {
thread_local int t_quiet = 0;
thread_local std::uint64_t t_quiet_site = 0;  // the database call's site, for the calls inside it
}  // namespace

void quiet_begin(std::uint64_t site) noexcept {
  t_from_db_lib = false;  // the site() just taken was for this call, which makes no request
  if (t_quiet++ == 0) t_quiet_site = site;
}
void quiet_end() noexcept { --t_quiet; }
bool quiet() noexcept { return t_quiet > 0; }

wire::Reply call(wire::Request req, std::string_view text) noexcept {
  auto& slot = g_shared->slots[t_tid];
  // Inside a database call only its waits (the busy handler's sleep) give other threads a turn.
  const bool from_db = std::exchange(t_from_db_lib, false);
  if ((t_quiet > 0 || from_db) && req.op != wire::Op::sleep && req.op != wire::Op::yield)
    req.flags |= wire::kQuiet;
  post(slot, req, text, true);
  wait_reply(slot);
  return slot.rep;
}

void send(wire::Request req, std::string_view text) noexcept {
  post(g_shared->slots[t_tid], req, text, false);
}

void adopt_thread(std::uint32_t tid) noexcept {
  t_tid = tid;
  t_cpu = g_cpu;
  wait_reply(g_shared->slots[tid]);
  detector::thread_started(tid);
}

void leave_thread() noexcept {
  detector::thread_finished();
  send({.op = wire::Op::thread_exit});
  t_tid = wire::kNoTid;
}

void process_exit(int status) noexcept {
  if (!controlled()) return;
  send({.op = wire::Op::process_exit, .arg0 = static_cast<std::uint32_t>(status)});
  g_controlled = false;
  t_tid = wire::kNoTid;
}

void crash(int sig, std::string_view what, std::uint64_t pc, bool from_signal) noexcept {
  if (!controlled()) return;
  // The program's stack for the driver to symbolize: "what\nEXACT PC PC ...", the frames above
  // racelab_rt's own (and, for a signal, the kernel's trampoline), EXACT 1 when the first pc is
  // the faulting instruction rather than a return address.
  void* frames[40];
  t_inside = true;  // the unwinder takes a pthread_once; it must not become a request
  int n = backtrace(frames, 40);
  t_inside = false;
  Dl_info self{};
  dladdr(reinterpret_cast<void*>(&on_fatal_signal), &self);
  int first = 0;
  while (first < n) {
    Dl_info info{};
    if (dladdr(frames[first], &info) == 0 || info.dli_fbase != self.dli_fbase) break;
    ++first;
  }
  if (from_signal && first < n) ++first;
  std::string text(what);
  text += from_signal ? "\n1" : "\n0";
  if (first >= n && pc != 0) text += ' ' + std::to_string(pc);
  for (int i = first; i < n; ++i) text += ' ' + std::to_string(reinterpret_cast<std::uintptr_t>(frames[i]));
  send({.op = wire::Op::crash, .arg0 = static_cast<std::uint32_t>(sig), .pc = pc}, text);
  g_crashed = true;  // the abort() that follows an assertion is the same death, already told
  g_controlled = false;
  t_tid = wire::kNoTid;
}

std::uint64_t site(std::uint64_t return_address) noexcept {
  if (in_exe(return_address)) return return_address;
  if (t_quiet > 0) return t_quiet_site;  // a call inside a statement: no unwinding for each of its mutexes
  if (in_db_lib(return_address)) {
    t_from_db_lib = true;
    return wire::kLibrarySite;
  }
  void* frames[24];
  t_inside = true;
  int n = backtrace(frames, 24);
  t_inside = false;
  for (int i = 1; i < n; ++i) {
    auto pc = reinterpret_cast<std::uintptr_t>(frames[i]);
    if (in_exe(pc)) return pc;
  }
  return return_address;
}

void access_point(wire::Op op, std::uint64_t pc, const void* addr, std::uint64_t arg) noexcept {
  if (!controlled()) return;
  call({.op = op, .obj = reinterpret_cast<std::uintptr_t>(addr), .arg0 = arg, .pc = pc});
}

void report_race(const Race& race) noexcept {
  if (!controlled()) return;
  static std::set<std::pair<std::uint64_t, std::uint64_t>> seen;
  auto pc_of = [](const RaceAccess& a) { return a.stack.empty() ? 0 : a.stack.front(); };
  if (!seen.emplace(pc_of(race.current), pc_of(race.previous)).second) return;
  // "ADDR\n" then one line per access: "TID WRITE ATOMIC SIZE PC PC...".
  std::string text = std::to_string(race.addr) + '\n';
  for (const auto* a : {&race.current, &race.previous}) {
    text += std::to_string(a->tid) + ' ' + (a->write ? '1' : '0') + ' ' + (a->atomic ? '1' : '0') + ' ' +
            std::to_string(a->size);
    for (auto pc : a->stack) text += ' ' + std::to_string(pc);
    text += '\n';
  }
  call({.op = wire::Op::race}, text);
}

void mark_instrumented() noexcept { g_instrumented = true; }

}  // namespace racelab::rt

using StartMain = int (*)(int (*)(int, char**, char**), int, char**, void (*)(), void (*)(), void (*)(),
                          void*);

extern "C" [[gnu::visibility("default")]] int __libc_start_main(int (*main)(int, char**, char**), int argc,
                                                                char** argv, void (*init)(), void (*fini)(),
                                                                void (*rtld_fini)(), void* stack_end) {
  auto real = reinterpret_cast<StartMain>(dlsym(RTLD_NEXT, "__libc_start_main"));
  racelab::rt::g_main = main;
  return real(racelab::rt::wrapped_main, argc, argv, init, fini, rtld_fini, stack_end);
}
