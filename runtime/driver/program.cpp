#include "program.hpp"

#include <elf.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <poll.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/personality.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <new>

namespace racelab::run {
namespace {

using namespace std::chrono;

long futex(std::atomic<std::uint32_t>* word, int op, std::uint32_t value, const timespec* timeout = nullptr) {
  return syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(word), op, value, timeout, nullptr, 0);
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
  if (!S_ISREG(st.st_mode) || access(path.c_str(), X_OK) != 0) return "'" + path + "' is not an executable file";
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
  return std::string("was killed by ") + (sigabbrev_np(signal) ? "SIG" + std::string(sigabbrev_np(signal)) : "a signal") +
         " (" + (sigdescr_np(signal) ? sigdescr_np(signal) : "?") + ")";
}

Program::Program(ProgramSpec spec) : spec_(std::move(spec)) {
  if (spec_.argv.empty()) throw ProgramError("no program given: racelab run [options] -- ./program [args...]");
  spec_.argv[0] = find_program(spec_.argv[0]);
  if (auto why = check_executable(spec_.argv[0]); !why.empty()) throw ProgramError(why);
  if (access(spec_.runtime_library.c_str(), R_OK) != 0)
    throw ProgramError("racelab's runtime library is missing: '" + spec_.runtime_library +
                       "' (set RACELAB_RT_LIBRARY to libracelab_rt.so)");

  int shm = memfd_create("racelab-run", 0);
  if (shm < 0 || ftruncate(shm, sizeof(wire::Shared)) != 0) throw ProgramError("memfd_create failed");
  void* map = mmap(nullptr, sizeof(wire::Shared), PROT_READ | PROT_WRITE, MAP_SHARED, shm, 0);
  if (map == MAP_FAILED) throw ProgramError("mmap of the shared page failed");
  shared_ = new (map) wire::Shared{};
  int cmd[2], ans[2];
  if (pipe2(cmd, O_CLOEXEC) != 0 || pipe2(ans, O_CLOEXEC) != 0) throw ProgramError("pipe failed");

  int cpu = sched_getcpu();
  if (spec_.pin_cpu && cpu >= 0) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    sched_setaffinity(0, sizeof set, &set);  // the driver and every run share this CPU
  }
  std::vector<char*> argv;
  for (auto& a : spec_.argv) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::string rt_env = std::to_string(shm) + "," + std::to_string(cmd[0]) + "," + std::to_string(ans[1]);
  std::string preload = spec_.runtime_library;
  if (const char* old = std::getenv("LD_PRELOAD"); old != nullptr && *old != '\0') preload += std::string(":") + old;

  server_ = fork();
  if (server_ < 0) throw ProgramError("fork failed");
  if (server_ == 0) {
    clear_cloexec(shm);
    clear_cloexec(cmd[0]);
    clear_cloexec(ans[1]);
    setenv(wire::kEnv, rt_env.c_str(), 1);
    setenv("LD_PRELOAD", preload.c_str(), 1);
    personality(ADDR_NO_RANDOMIZE);  // the same addresses in every run: schedules name instructions
    int null = open("/dev/null", O_WRONLY);
    dup2(null, STDOUT_FILENO);
    execv(argv[0], argv.data());
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
}

Program::~Program() {
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
  for (auto& slot : shared_->slots) slot.state.store(0, std::memory_order_relaxed);
  shared_->doorbell.store(0, std::memory_order_relaxed);
  ended_.reset();
  stuck_ = false;
  char f = 'F';
  std::int32_t answer[2] = {0, 0};
  if (::write(cmd_fd_, &f, 1) != 1 || !read_all(ans_fd_, answer, sizeof answer) || answer[0] <= 0)
    throw ProgramError("the program's fork server stopped answering");
  pid_ = answer[0];
}

std::optional<wire::Request> Program::next_request(std::uint32_t tid, std::chrono::milliseconds stuck) {
  auto& slot = shared_->slots[tid];
  const auto start = steady_clock::now();
  constexpr auto kRequest = static_cast<std::uint32_t>(wire::SlotState::request);
  for (;;) {
    auto bell = shared_->doorbell.load(std::memory_order_acquire);
    if (slot.state.load(std::memory_order_acquire) == kRequest) return slot.req;
    timespec wait{0, 20'000'000};
    if (futex(&shared_->doorbell, FUTEX_WAIT, bell, &wait) == 0 || errno != ETIMEDOUT) continue;
    if (slot.state.load(std::memory_order_acquire) == kRequest) return slot.req;
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

void Program::reply(std::uint32_t tid, wire::Reply reply) {
  auto& slot = shared_->slots[tid];
  slot.rep = reply;
  slot.state.store(static_cast<std::uint32_t>(wire::SlotState::reply), std::memory_order_release);
  futex(&slot.state, FUTEX_WAKE, 1);
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
