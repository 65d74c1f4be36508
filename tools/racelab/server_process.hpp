// `racelab serve` as a child process on a free port, for the demo's two-instance chapter and the
// service tests, which speak HTTP to it.
//
//   ServerProcess server("/path/to/racelab", {"--db", conninfo});
//   auto client = server.client();          // httplib::Client on 127.0.0.1:server.port()
//   ASSERT_TRUE(client.Get("/health")) << server.state();   // "exited early: killed by SIGSEGV …"
//
// Start-up waits at most 15 s for "listening on" (and kills the child if it does not come). A
// thread keeps reading the child's output, so a chatty child never blocks on a full pipe, and reaps
// the child when it exits: an exit nobody asked for (a crash, a sanitizer report, an exit) prints
// the child's output at once, so a request that fails because the server has gone comes with the
// reason right beside it. The destructor sends SIGTERM, then SIGKILL after 5 s, and prints the
// child's output when it did not exit cleanly, so that is never lost. kill() is the crash on
// purpose: SIGKILL, and no report.
#pragma once

#include <fcntl.h>
#include <httplib.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

class ServerProcess {
 public:
  ServerProcess(const std::string& binary, std::vector<std::string> args, std::vector<std::string> env = {}) {
    int out[2];
    if (::pipe2(out, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");  // no other child inherits it
    // Everything the child needs is made before fork(): after it, only async-signal-safe calls.
    std::vector<char*> argv{const_cast<char*>(binary.c_str()), const_cast<char*>("serve"),
                            const_cast<char*>("--port"), const_cast<char*>("0")};
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    std::vector<std::string> environment;
    for (char** e = environ; *e != nullptr; ++e) {
      const std::string entry = *e;
      const auto name = entry.substr(0, entry.find('=') + 1);
      bool replaced = false;
      for (const auto& mine : env) replaced = replaced || mine.rfind(name, 0) == 0;
      if (!replaced) environment.push_back(entry);
    }
    for (const auto& e : env) environment.push_back(e);
    std::vector<char*> envp;
    for (auto& e : environment) envp.push_back(e.data());
    envp.push_back(nullptr);
    const pid_t parent = ::getpid();
    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
      // The server dies with the test: a test killed at its timeout leaves no server holding ports
      // and database connections.
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) ::_exit(127);
      ::dup2(out[1], STDOUT_FILENO);  // dup2 clears O_CLOEXEC on the copies
      ::dup2(out[1], STDERR_FILENO);  // nothing of the child may hold the test's own output open
      ::execve(binary.c_str(), argv.data(), envp.data());
      static const char message[] = "execve of racelab failed\n";
      static_cast<void>(::write(STDERR_FILENO, message, sizeof message - 1));
      ::_exit(127);
    }
    ::close(out[1]);
    fd_ = out[0];
    reader_ = std::thread([this] { drain(); });
    try {
      port_ = wait_for_port();
    } catch (...) {
      stop();
      throw;
    }
  }
  ~ServerProcess() { stop(); }
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;
  int port() const { return port_; }
  pid_t pid() const { return pid_; }
  httplib::Client client() const {
    httplib::Client c("127.0.0.1", port_);
    c.set_read_timeout(30, 0);
    return c;
  }
  std::string output() const {
    std::lock_guard lock(mu_);
    return output_;
  }
  // Whether the child has exited (and been reaped); never blocks.
  bool exited() const {
    std::lock_guard lock(mu_);
    return exited_;
  }
  // "running", or how the child ended and its output: for a failed request's message.
  std::string state() const {
    std::lock_guard lock(mu_);
    if (!exited_) return "racelab serve (pid " + std::to_string(pid_) + ") is running";
    return "racelab serve (pid " + std::to_string(pid_) + ") exited: " + describe(status_) +
           "; its output:\n" + output_;
  }
  // Sends `sig` to the child, unless it has already been reaped. The exit it may cause is asked
  // for: it is not reported as early.
  void kill(int sig) {
    std::lock_guard lock(mu_);
    asked_ = true;
    if (!exited_) ::kill(pid_, sig);
  }
  // The child's wait status once it has exited, waiting at most `timeout`; nullopt if it has not.
  std::optional<int> wait_exit(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mu_);
    if (!changed_.wait_for(lock, timeout, [this] { return exited_; })) return std::nullopt;
    return status_;
  }
  // SIGKILL, as a crash would: no handler runs, nothing is flushed, open transactions are cut off.
  // Returns once the child is gone; an intended kill is not reported as an unclean exit.
  void kill() {
    kill(SIGKILL);
    static_cast<void>(wait_exit(std::chrono::seconds(30)));
  }
  // The words for a wait status: "exit status 0", "killed by SIGSEGV (Segmentation fault)".
  static std::string describe(int status) {
    if (WIFEXITED(status)) return "exit status " + std::to_string(WEXITSTATUS(status));
    if (WIFSIGNALED(status)) {
      const char* abbrev = ::sigabbrev_np(WTERMSIG(status));
      return std::string("killed by ") + (abbrev != nullptr ? std::string("SIG") + abbrev : "a signal") +
             " (" + ::strsignal(WTERMSIG(status)) + ")" + (WCOREDUMP(status) ? ", core dumped" : "");
    }
    return "wait status " + std::to_string(status);
  }

 private:
  // Waits for the line "racelab serve: listening on http://127.0.0.1:PORT (db …)".
  int wait_for_port() {
    std::unique_lock lock(mu_);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
    for (;;) {
      if (auto at = output_.find("listening on http://"); at != std::string::npos) {
        if (auto eol = output_.find('\n', at); eol != std::string::npos) {
          auto colon = output_.find(':', output_.find("//", at) + 2);
          return std::stoi(output_.substr(colon + 1));
        }
      }
      if (exited_)
        throw std::runtime_error("racelab serve did not start (" + describe(status_) + "): " + output_);
      if (changed_.wait_until(lock, deadline) == std::cv_status::timeout)
        throw std::runtime_error("racelab serve did not start within 15 s: " + output_);
    }
  }
  // One read of what is there; false at the end of the output (or on an error).
  bool read_some() {
    char buf[4096];
    const auto n = ::read(fd_, buf, sizeof buf);
    if (n <= 0) return false;
    std::lock_guard lock(mu_);
    output_.append(buf, static_cast<std::size_t>(n));
    changed_.notify_all();
    return true;
  }
  bool reap(int flags) {
    int status = 0;
    if (::waitpid(pid_, &status, flags) != pid_) return false;
    std::lock_guard lock(mu_);
    status_ = status;
    exited_ = true;
    changed_.notify_all();
    return true;
  }
  // The reader thread: the output until its end, then the exit. The end of the output means the
  // child is exiting (it closed both ends), so the blocking waitpid is short; a child whose output
  // stays open (a grandchild holds it) is reaped by the check every 100 ms.
  void drain() {
    for (;;) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 100) > 0) {
        if (!read_some()) break;
        continue;
      }
      if (reap(WNOHANG)) {
        pollfd rest{fd_, POLLIN, 0};
        while (::poll(&rest, 1, 0) > 0 && read_some()) {
        }
        break;
      }
    }
    bool done = exited();
    if (!done) done = reap(0);
    std::lock_guard lock(mu_);
    if (done && !stopping_ && !asked_) {
      std::fprintf(stderr, "racelab serve (pid %d) exited early: %s; its output:\n%s\n",
                   static_cast<int>(pid_), describe(status_).c_str(), output_.c_str());
      reported_ = true;
    }
  }
  void send(int sig) {
    std::lock_guard lock(mu_);
    if (!exited_) ::kill(pid_, sig);
  }
  void stop() {
    if (pid_ <= 0) return;
    {
      std::lock_guard lock(mu_);
      stopping_ = !exited_;  // an exit before this is someone else's doing: reported as early
    }
    send(SIGTERM);
    if (!wait_exit(std::chrono::seconds(5))) {  // still there after 5 s: say so, then make sure
      std::fprintf(stderr, "racelab serve (pid %d) ignored SIGTERM for 5 s; killing it\n",
                   static_cast<int>(pid_));
      send(SIGKILL);
      static_cast<void>(wait_exit(std::chrono::seconds(30)));
    }
    if (reader_.joinable()) reader_.join();
    ::close(fd_);
    std::lock_guard lock(mu_);
    if (!reported_ && !asked_ && !(exited_ && WIFEXITED(status_) && WEXITSTATUS(status_) == 0))
      std::fprintf(stderr, "racelab serve (pid %d) did not exit cleanly (%s); its output:\n%s\n",
                   static_cast<int>(pid_), exited_ ? describe(status_).c_str() : "not reaped",
                   output_.c_str());
    pid_ = -1;
  }

  pid_t pid_ = -1;
  int fd_ = -1;
  int port_ = 0;
  std::thread reader_;
  mutable std::mutex mu_;
  std::condition_variable changed_;  // output_ grew or the child exited
  std::string output_;
  bool exited_ = false;  // reaped; status_ is its wait status
  int status_ = 0;
  bool stopping_ = false;  // stop() asked it to exit
  bool reported_ = false;  // its output was printed already
  bool asked_ = false;     // kill() was called: the test expects the exit
};
