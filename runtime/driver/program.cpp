#include "program.hpp"

#include <elf.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <poll.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <new>

namespace racelab::run {
namespace {

using namespace std::chrono;

long futex(std::atomic<std::uint32_t>* word, int op, std::uint32_t value, const timespec* timeout = nullptr) {
  // Not FUTEX_PRIVATE_FLAG: the word is in a mapping shared with the program's processes.
  return syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(word), op, value, timeout, nullptr, 0);
}

constexpr std::uint32_t state_of(std::uint32_t word) { return word & wire::kStateMask; }
constexpr auto kRequest = static_cast<std::uint32_t>(wire::SlotState::request);
constexpr auto kReply = static_cast<std::uint32_t>(wire::SlotState::reply);

// The spin's clock, the same as racelab_rt's (channel.cpp): the TSC. Elsewhere nobody spins.
#if defined(__x86_64__)
std::uint64_t ticks() { return __builtin_ia32_rdtsc(); }
void relax() { __builtin_ia32_pause(); }
constexpr bool kCanSpin = true;
#else
std::uint64_t ticks() { return 0; }
void relax() {}
constexpr bool kCanSpin = false;
#endif

// How long each side spins before it sleeps. A reply or a request that comes within it costs no
// system call on either side; one that does not costs this much CPU more than a plain sleep.
constexpr std::uint64_t kSpinUs = 20;
// The driver looks for contention (adapt_placement) every this many waits; once seen, the program
// stays beside the driver for kBackoffWaitsMin waits, doubling up to kBackoffWaitsMax while it lasts.
constexpr std::uint32_t kAdaptEvery = 64;
constexpr std::uint32_t kBackoffWaitsMin = 1024;
constexpr std::uint32_t kBackoffWaitsMax = 1 << 20;

void pin(pid_t pid, int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  sched_setaffinity(pid, sizeof set, &set);
}

}  // namespace

std::vector<int> usable_cpus() {
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  std::vector<int> out;
  if (sched_getaffinity(0, sizeof allowed, &allowed) != 0) return out;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu)
    if (CPU_ISSET(cpu, &allowed)) out.push_back(cpu);
  return out;
}

void pin_thread(int cpu) { pin(0, cpu); }

namespace {

// The CPU the program gets beside the driver's `here`: the next one it may use, or `here` if it
// may use no other.
int program_cpu_beside(int here) {
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  if (!kCanSpin || sched_getaffinity(0, sizeof allowed, &allowed) != 0) return here;
  for (int i = 1; i < CPU_SETSIZE; ++i)
    if (int cpu = (here + i) % CPU_SETSIZE; CPU_ISSET(cpu, &allowed)) return cpu;
  return here;
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

std::string find_program(const std::string& name) {
  if (name.find('/') != std::string::npos) return name;
  const char* path = std::getenv("PATH");
  std::string dirs = path != nullptr ? path : "/usr/bin:/bin";
  std::size_t start = 0;
  while (start <= dirs.size()) {
    auto end = dirs.find(':', start);
    if (end == std::string::npos) end = dirs.size();
    auto candidate = dirs.substr(start, end - start) + "/" + name;
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
    start = end + 1;
  }
  return name;
}

// Why `path` cannot run under racelab_rt, or "" if it can (an ELF executable with an interpreter:
// dynamically linked, so the runtime can be preloaded).
std::string check_executable(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) return "no such program: '" + path + "'";
  if (!S_ISREG(st.st_mode) || access(path.c_str(), X_OK) != 0)
    return "'" + path + "' is not an executable file";
  std::ifstream in(path, std::ios::binary);
  Elf64_Ehdr eh{};
  if (!in.read(reinterpret_cast<char*>(&eh), sizeof eh) || std::memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 ||
      eh.e_ident[EI_CLASS] != ELFCLASS64)
    return "'" + path + "' is not a 64-bit ELF executable (a script? run its interpreter on an ELF program)";
  for (int i = 0; i < eh.e_phnum; ++i) {
    Elf64_Phdr ph{};
    in.seekg(static_cast<std::streamoff>(eh.e_phoff + static_cast<std::uint64_t>(i) * eh.e_phentsize));
    if (!in.read(reinterpret_cast<char*>(&ph), sizeof ph)) break;
    if (ph.p_type == PT_INTERP) return "";
  }
  return "'" + path +
         "' is statically linked: racelab_rt cannot be loaded into it. Build it with `racelab cc` / "
         "`racelab c++` (dynamically linked)";
}

void clear_cloexec(int fd) { fcntl(fd, F_SETFD, fcntl(fd, F_GETFD) & ~FD_CLOEXEC); }

}  // namespace

std::string ProcessEnd::describe() const {
  if (exited) return "exited with status " + std::to_string(status);
  return std::string("was killed by ") +
         (sigabbrev_np(signal) ? "SIG" + std::string(sigabbrev_np(signal)) : "a signal") + " (" +
         (sigdescr_np(signal) ? sigdescr_np(signal) : "?") + ")";
}

Program::Program(ProgramSpec spec) : spec_(std::move(spec)) {
  // RACELAB_RUN_PLACEMENT (for measurements and tests): "split" keeps the program on a CPU of its
  // own, "shared" beside the driver; "adaptive" (the default) lets adapt_placement choose.
  const char* placement_env = std::getenv("RACELAB_RUN_PLACEMENT");
  const std::string_view placement = placement_env == nullptr ? "" : placement_env;
  if (placement == "split" || placement == "shared")
    fixed_placement_ = true;
  else if (!placement.empty() && placement != "adaptive")
    throw ProgramError("RACELAB_RUN_PLACEMENT is '" + std::string(placement) +
                       "': use split, shared or adaptive");
  if (spec_.argv.empty())
    throw ProgramError("no program given: racelab run [options] -- ./program [args...]");
  spec_.argv[0] = find_program(spec_.argv[0]);
  if (auto why = check_executable(spec_.argv[0]); !why.empty()) throw ProgramError(why);
  if (access(spec_.runtime_library.c_str(), R_OK) != 0)
    throw ProgramError("racelab's runtime library is missing: '" + spec_.runtime_library +
                       "' (set RACELAB_RT_LIBRARY to libracelab_rt.so)");

  int shm = memfd_create("racelab-run", MFD_CLOEXEC);  // cleared in its own fork server only
  if (shm < 0 || ftruncate(shm, sizeof(wire::Shared)) != 0) throw ProgramError("memfd_create failed");
  void* map = mmap(nullptr, sizeof(wire::Shared), PROT_READ | PROT_WRITE, MAP_SHARED, shm, 0);
  if (map == MAP_FAILED) throw ProgramError("mmap of the shared page failed");
  shared_ = new (map) wire::Shared{};
  int cmd[2], ans[2];
  if (pipe2(cmd, O_CLOEXEC) != 0 || pipe2(ans, O_CLOEXEC) != 0) throw ProgramError("pipe failed");

  // The driver stays on the CPU it runs on, and so does the fork server; the runs' threads move
  // to program_cpu_ while the two CPUs are not contended (see the top of program.hpp).
  const auto calibration_start = steady_clock::now();
  const auto calibration_ticks = ticks();
  driver_cpu_ = !spec_.pin_cpu ? -1 : spec_.cpu >= 0 ? spec_.cpu : sched_getcpu();
  program_cpu_ = driver_cpu_ < 0 ? -1 : spec_.cpu >= 0 ? driver_cpu_ : program_cpu_beside(driver_cpu_);
  if (driver_cpu_ >= 0) pin(0, driver_cpu_);
  std::vector<char*> argv;
  for (auto& a : spec_.argv) argv.push_back(a.data());
  argv.push_back(nullptr);
  // LD_BIND_NOW: the fork server resolves every symbol once, before it forks, instead of every
  // run resolving (and copying the pages of) the ones it calls. racelab_rt unsets it again when
  // racelab set it (the ",1"), so that the program's environment is the one it was given.
  const bool bind_now = std::getenv("LD_BIND_NOW") == nullptr;
  std::string preload = spec_.runtime_library;
  if (const char* old = std::getenv("LD_PRELOAD"); old != nullptr && *old != '\0')
    preload += std::string(":") + old;
  // The environment is made before fork(): the child of a process with other threads (racelab run
  // --jobs starts a worker's program from that worker) may only make async-signal-safe calls.
  std::vector<std::string> env_text;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string_view v(*e);
    if (v.starts_with(std::string(wire::kEnv) + "=") || v.starts_with("LD_PRELOAD=") ||
        v.starts_with("LD_BIND_NOW="))
      continue;
    env_text.emplace_back(v);
  }
  env_text.push_back(std::string(wire::kEnv) + "=" + std::to_string(shm) + "," + std::to_string(cmd[0]) +
                     "," + std::to_string(ans[1]) + (bind_now ? ",1" : ",0"));
  env_text.push_back("LD_PRELOAD=" + preload);
  env_text.push_back(std::string("LD_BIND_NOW=") + (bind_now ? "1" : std::getenv("LD_BIND_NOW")));
  std::vector<char*> envp;
  for (auto& e : env_text) envp.push_back(e.data());
  envp.push_back(nullptr);
  // PR_SET_PDEATHSIG follows the thread that forks, not the process: only a fork server started by
  // the main thread gets it. Another one (a --jobs worker's, whose thread ends with its explore()
  // call) ends when racelab does through the end of file on its command pipe.
  const bool main_thread = gettid() == getpid();

  server_ = fork();
  if (server_ < 0) throw ProgramError("fork failed");
  if (server_ == 0) {
    if (main_thread)
      prctl(PR_SET_PDEATHSIG, SIGKILL);  // the fork server dies with racelab (kept across exec)
    // Every run reads the same (empty) stdin: one run must not consume what the next would see.
    if (int null = ::open("/dev/null", O_RDONLY); null >= 0) {
      dup2(null, STDIN_FILENO);
      if (null != STDIN_FILENO) ::close(null);
    }
    clear_cloexec(shm);
    clear_cloexec(cmd[0]);
    clear_cloexec(ans[1]);
    personality(ADDR_NO_RANDOMIZE);  // the same addresses in every run: schedules name instructions
    int null = open("/dev/null", O_WRONLY);
    dup2(null, STDOUT_FILENO);
    execve(argv[0], argv.data(), envp.data());
    _exit(127);
  }
  close(shm);
  close(cmd[0]);
  close(ans[1]);
  cmd_fd_ = cmd[1];
  ans_fd_ = ans[0];
  std::uint32_t hello[2] = {0, 0};
  if (!answer_ready(10'000) || !read_all(ans_fd_, hello, sizeof hello) || hello[0] != wire::kMagic) {
    int status = 0;
    kill(server_, SIGKILL);
    waitpid(server_, &status, 0);
    server_ = -1;
    throw ProgramError("racelab_rt did not start in '" + spec_.argv[0] +
                       "' (it exited or hung before main). Is it a dynamically linked program built with "
                       "`racelab cc` / `racelab c++`?");
  }
  instrumented_ = hello[1] != 0;
  // The TSC's rate, from the exec and handshake just timed (milliseconds: precise enough).
  const auto elapsed_ns = duration_cast<nanoseconds>(steady_clock::now() - calibration_start).count();
  if (elapsed_ns >= 100'000)
    ticks_per_us_ = (ticks() - calibration_ticks) * 1000 / static_cast<std::uint64_t>(elapsed_ns);
  if (ticks_per_us_ == 0) program_cpu_ = driver_cpu_;
  if (placement == "shared") program_cpu_ = driver_cpu_;
  set_split(program_cpu_ != driver_cpu_);
  if (placement == "split" && !split_)
    std::fprintf(stderr,
                 "racelab run: RACELAB_RUN_PLACEMENT=split is not possible here (%s): the program's "
                 "threads share the driver's CPU\n",
                 !spec_.pin_cpu   ? "--no-pin"
                 : spec_.cpu >= 0 ? "several workers"
                                  : "one usable CPU");
}

// Split: the program's threads on program_cpu_, and both sides spin before they sleep. Not split:
// everything on driver_cpu_ (or wherever, unpinned), and nobody spins.
void Program::set_split(bool on) {
  split_ = on;
  spin_ticks_ = on ? kSpinUs * ticks_per_us_ : 0;
  const auto thread_ticks = static_cast<std::uint32_t>(std::min<std::uint64_t>(spin_ticks_, UINT32_MAX));
  for (auto& slot : shared_->slots) {
    slot.spin_ticks.store(thread_ticks, std::memory_order_relaxed);
    slot.cpu.store(on ? program_cpu_ : driver_cpu_, std::memory_order_relaxed);
  }
}

// Splitting pays only while each side has its CPU to itself and the requests come within the
// spin. Every kAdaptEvery waits, split: two involuntary context switches of the driver or more
// since the last look (another process wants its CPU: a second session, say), or most waits ending asleep
// (the program's CPU is busy, or it computes between points), put the program back beside the
// driver for a while, which doubles as long as that lasts; then splitting is tried again.
void Program::adapt_placement() {
  rusage usage{};
  if (getrusage(RUSAGE_THREAD, &usage) != 0) return;
  // Split, the driver is preempted about once per look even on an idle machine (this VM kind: a
  // kernel thread, a timer): one is no sign of a CPU wanted by another process. Not split, its own
  // wake-ups of the program's threads preempt it: no sign either.
  const bool preempted = split_ && usage.ru_nivcsw - preemptions_ >= 2;
  preemptions_ = usage.ru_nivcsw;
  const bool slow = split_ && 2 * slept_waits_ > kAdaptEvery;
  slept_waits_ = 0;
  if (preempted || slow) {
    backoff_waits_ = std::clamp(backoff_waits_ * 2, kBackoffWaitsMin, kBackoffWaitsMax);
    calm_waits_ = backoff_waits_;
    if (split_) set_split(false);
    return;
  }
  calm_waits_ = calm_waits_ > kAdaptEvery ? calm_waits_ - kAdaptEvery : 0;
  if (calm_waits_ > 0 || split_) return;
  backoff_waits_ /= 2;
  set_split(true);
}

Program::~Program() {
  // RACELAB_RUN_STATS=1 (for tests and measurements): how this worker's sleeping threads were woken.
  if (const char* stats = std::getenv("RACELAB_RUN_STATS");
      stats != nullptr && std::string_view(stats) == "1")
    std::fprintf(
        stderr,
        "racelab run: wake-ups of sleeping threads: %llu by the driver, %llu relayed (%s placement)\n",
        static_cast<unsigned long long>(woken_), static_cast<unsigned long long>(relayed_),
        fixed_placement_ ? (program_cpu_ != driver_cpu_ ? "split" : "shared") : "adaptive");
  if (pid_ > 0) static_cast<void>(finish_run(milliseconds(0)));
  if (cmd_fd_ >= 0) {
    char q = 'Q';
    static_cast<void>(::write(cmd_fd_, &q, 1));
    close(cmd_fd_);
  }
  if (ans_fd_ >= 0) close(ans_fd_);
  if (server_ > 0) {
    int status = 0;
    for (int i = 0; i < 200 && waitpid(server_, &status, WNOHANG) == 0; ++i) usleep(5'000);
    if (waitpid(server_, &status, WNOHANG) == 0) {
      kill(server_, SIGKILL);
      waitpid(server_, &status, 0);
    }
  }
  if (shared_ != nullptr) munmap(shared_, sizeof(wire::Shared));
}

bool Program::answer_ready(int timeout_ms) const {
  pollfd p{ans_fd_, POLLIN, 0};
  int rc;
  while ((rc = poll(&p, 1, timeout_ms)) < 0 && errno == EINTR) {
  }
  return rc > 0;
}

void Program::start_run() {
  // Only a thread the driver replied to can have posted a request; another one's slot holds at
  // most kThreadSleeps, which a reply handles. So the slots up to the highest such thread are
  // enough (each is on pages of its own: resetting all 256 touched 256 pages per run).
  for (std::uint32_t tid = 0; tid < slots_used_; ++tid)
    shared_->slots[tid].state.store(0, std::memory_order_relaxed);
  slots_used_ = 1;
  running_ = wire::kNoTid;
  ended_.reset();
  stuck_ = false;
  char f = 'F';
  std::int32_t answer[2] = {0, 0};
  if (::write(cmd_fd_, &f, 1) != 1 || !read_all(ans_fd_, answer, sizeof answer) || answer[0] <= 0)
    throw ProgramError("the program's fork server stopped answering");
  pid_ = answer[0];
}

// Spins for the request (if spinning is on), then sleeps on the slot's word with kDriverSleeps
// set, 20 ms at a time, to see between sleeps whether the process ended or the thread is stuck.
// The acquire load that sees request makes the thread's `req` and `text` visible.
std::optional<wire::Request> Program::next_request(std::uint32_t tid, std::chrono::milliseconds stuck) {
  auto& slot = shared_->slots[tid];
  if (program_cpu_ != driver_cpu_ && !fixed_placement_ && ++waits_ % kAdaptEvery == 0) adapt_placement();
  auto word = slot.state.load(std::memory_order_acquire);
  if (state_of(word) != kRequest && spin_ticks_ > 0) {
    const auto start = ticks();
    do {
      relax();
      word = slot.state.load(std::memory_order_acquire);
    } while (state_of(word) != kRequest && ticks() - start < spin_ticks_);
    if (state_of(word) != kRequest) ++slept_waits_;
  }
  const auto start = steady_clock::now();
  for (;; word = slot.state.load(std::memory_order_acquire)) {
    if (state_of(word) == kRequest) return slot.req;
    if ((word & wire::kDriverSleeps) == 0 &&
        !slot.state.compare_exchange_weak(word, word | wire::kDriverSleeps, std::memory_order_acquire))
      continue;
    timespec wait{0, 20'000'000};
    if (futex(&slot.state, FUTEX_WAIT, word | wire::kDriverSleeps, &wait) == 0 || errno != ETIMEDOUT)
      continue;
    if (state_of(slot.state.load(std::memory_order_acquire)) == kRequest) return slot.req;
    if (answer_ready(0)) {
      ended_ = read_end();
      pid_ = -1;
      return std::nullopt;
    }
    if (steady_clock::now() - start > stuck) {
      stuck_ = true;
      return std::nullopt;
    }
  }
}

std::string_view Program::text(std::uint32_t tid) const {
  const auto& slot = shared_->slots[tid];
  return {slot.text, slot.req.text_len};
}

// Publishes the reply (release) and wakes the thread if it said it sleeps, and parks the thread
// that ran, if another one runs now. When that one spins on the program's CPU, it makes the
// wake-up (relay): a local wake-up there, where one from the driver's CPU would be a cross-CPU one.
void Program::reply(std::uint32_t tid, wire::Reply reply) {
  const auto ran = running_;
  running_ = tid;
  slots_used_ = std::max(slots_used_, tid + 1);
  auto& slot = shared_->slots[tid];
  slot.rep = reply;
  auto old = slot.state.exchange(kReply, std::memory_order_acq_rel);
  const bool wake = (old & wire::kThreadSleeps) != 0;
  if (ran != tid && ran != wire::kNoTid) {
    if (wake && relay(ran, tid)) {
      ++relayed_;
      return;
    }
    park(ran);
  }
  if (wake) {
    ++woken_;
    futex(&slot.state, FUTEX_WAKE, INT_MAX);
  }
}

// Asks thread `from`, if it spins for its reply, to wake thread `to` and sleep; false if it does
// not spin (it sleeps, or it sent a request that needs no reply).
bool Program::relay(std::uint32_t from, std::uint32_t to) {
  if (spin_ticks_ == 0) return false;
  auto& slot = shared_->slots[from];
  slot.relay_to.store(to, std::memory_order_relaxed);
  auto word = slot.state.load(std::memory_order_relaxed);
  while (state_of(word) == kRequest && (word & wire::kSpinning) != 0 &&
         (word & (wire::kThreadSleeps | wire::kParked)) == 0)
    if (slot.state.compare_exchange_weak(word, word | wire::kParked | wire::kRelay, std::memory_order_release,
                                         std::memory_order_relaxed))
      return true;
  return false;
}

// Tells thread `tid`, which waits for a reply that will not come soon, to stop spinning.
void Program::park(std::uint32_t tid) {
  if (spin_ticks_ == 0) return;
  auto& state = shared_->slots[tid].state;
  auto word = state.load(std::memory_order_relaxed);
  while (state_of(word) == kRequest && (word & wire::kParked) == 0 &&
         !state.compare_exchange_weak(word, word | wire::kParked, std::memory_order_relaxed)) {
  }
}

ProcessEnd Program::finish_run(std::chrono::milliseconds grace) {
  if (ended_) return *ended_;
  if (pid_ <= 0) return {};
  if (!answer_ready(static_cast<int>(grace.count()))) kill(pid_, SIGKILL);
  ended_ = read_end();
  pid_ = -1;
  return *ended_;
}

ProcessEnd Program::read_end() {
  std::int32_t answer[2] = {0, 0};
  if (!read_all(ans_fd_, answer, sizeof answer)) throw ProgramError("the program's fork server died");
  ProcessEnd end;
  end.exited = WIFEXITED(answer[0]);
  end.status = end.exited ? WEXITSTATUS(answer[0]) : 0;
  end.signal = WIFSIGNALED(answer[0]) ? WTERMSIG(answer[0]) : 0;
  end.output.resize(static_cast<std::size_t>(answer[1]));
  if (answer[1] > 0 && !read_all(ans_fd_, end.output.data(), end.output.size()))
    throw ProgramError("the program's fork server died");
  return end;
}

}  // namespace racelab::run
