// The CLI never dies silently: a fatal signal is named, with a backtrace, and still ends the process
// with that signal. Each test kills or crashes a real process and reads its stderr and wait status.
#include <gtest/gtest.h>
#include <sys/resource.h>

#include <filesystem>
#include <sstream>

#include "server_process.hpp"

namespace {

const std::string kCli = RACELAB_CLI_PATH;
const std::string kProbe = RACELAB_FATAL_SIGNAL_PROBE;

// No core files from the crashes these tests cause (the report and the status are what they check).
void no_core_files() {
  rlimit none{0, 0};
  ::setrlimit(RLIMIT_CORE, &none);
}

// The frames of the backtrace that follows the report's header line.
int backtrace_frames(const std::string& output) {
  const auto at = output.find("backtrace, innermost first:");
  if (at == std::string::npos) return 0;
  std::istringstream in(output.substr(at));
  int frames = 0;
  for (std::string line; std::getline(in, line);) frames += line.find("[0x") != std::string::npos;
  return frames;
}

struct Run {
  int status = 0;
  std::string output;
};

// Runs `argv` with its stdout and stderr in one pipe; waits for it.
Run run(std::vector<std::string> argv) {
  int out[2];
  if (::pipe(out) != 0) throw std::runtime_error("pipe failed");
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(out[1], STDOUT_FILENO);
    ::dup2(out[1], STDERR_FILENO);
    ::close(out[0]);
    ::close(out[1]);
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  ::close(out[1]);
  Run r;
  char buf[4096];
  for (ssize_t n; (n = ::read(out[0], buf, sizeof buf)) > 0;)
    r.output.append(buf, static_cast<std::size_t>(n));
  ::close(out[0]);
  ::waitpid(pid, &r.status, 0);
  return r;
}

struct Case {
  int sig;
  const char* report;
};

void PrintTo(const Case& c, std::ostream* os) { *os << "SIG" << ::sigabbrev_np(c.sig); }

class FatalSignal : public testing::TestWithParam<Case> {};

}  // namespace

// kill(2) sends the signal to a running `racelab serve`: stderr names it and shows its stack, and
// the wait status is death by that signal (the default action ran after the report).
TEST_P(FatalSignal, AServerSentItReportsItAndDiesOfIt) {
  no_core_files();
  const auto db =
      std::filesystem::temp_directory_path() /
      ("racelab_svc_signal_" + std::to_string(GetParam().sig) + "_" + std::to_string(::getpid()) + ".db");
  ServerProcess server(kCli, {"--db", "sqlite:" + db.string()});
  auto c = server.client();
  ASSERT_TRUE(c.Get("/health")) << server.state();
  server.kill(GetParam().sig);
  auto status = server.wait_exit(std::chrono::seconds(20));
  ASSERT_TRUE(status) << "still running 20 s after the signal";
  EXPECT_TRUE(WIFSIGNALED(*status) && WTERMSIG(*status) == GetParam().sig)
      << ServerProcess::describe(*status);
  const auto output = server.output();
  EXPECT_NE(output.find(std::string("racelab: fatal signal ") + GetParam().report), std::string::npos)
      << output;
  EXPECT_NE(output.find("sent by process " + std::to_string(::getpid())), std::string::npos) << output;
  EXPECT_GE(backtrace_frames(output), 3) << output;
  for (auto suffix : {"", "-wal", "-shm"}) std::filesystem::remove(db.string() + suffix);
}

INSTANTIATE_TEST_SUITE_P(
    Signals, FatalSignal,
    testing::Values(Case{SIGSEGV, "SIGSEGV (Segmentation fault)"}, Case{SIGABRT, "SIGABRT (Aborted)"},
                    Case{SIGBUS, "SIGBUS (Bus error)"}, Case{SIGFPE, "SIGFPE (Floating point exception)"},
                    Case{SIGILL, "SIGILL (Illegal instruction)"}),
    [](const testing::TestParamInfo<Case>& p) { return std::string(::sigabbrev_np(p.param.sig)); });

// A real fault, an abort() and a thread that overflows its stack (the report runs on the thread's
// alternate signal stack, use_signal_stack()): each is reported with its frames, and kills.
TEST(FatalSignalProbe, FaultsAbortsAndStackOverflowsAreReported) {
  no_core_files();
  struct Crash {
    const char* how;
    int sig;
    const char* report;
    const char* frame;  // a function the backtrace must name
  };
  for (const Crash& k : {Crash{"segv", SIGSEGV, "SIGSEGV (Segmentation fault)", "main"},
                         Crash{"abort", SIGABRT, "SIGABRT (Aborted)", "abort"},
                         Crash{"overflow", SIGSEGV, "SIGSEGV (Segmentation fault)", "deeper"}}) {
    auto r = run({kProbe, k.how});
    EXPECT_TRUE(WIFSIGNALED(r.status) && WTERMSIG(r.status) == k.sig)
        << k.how << ": " << ServerProcess::describe(r.status) << "\n"
        << r.output;
    EXPECT_NE(r.output.find(std::string("racelab: fatal signal ") + k.report), std::string::npos)
        << k.how << ": " << r.output;
    EXPECT_GE(backtrace_frames(r.output), 3) << k.how << ": " << r.output;
    EXPECT_NE(r.output.find(k.frame), std::string::npos) << k.how << ": " << r.output;
  }
}
