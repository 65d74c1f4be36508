// `racelab serve` as a child process on a free port, for the demo's two-instance chapter and the
// service tests, which speak HTTP to it.
//
//   ServerProcess server("/path/to/racelab", {"--db", conninfo});
//   auto client = server.client();          // httplib::Client on 127.0.0.1:server.port()
//
// Start-up waits at most 15 s for "listening on" (and kills the child if it does not come). A
// thread keeps reading the child's output, so a chatty child never blocks on a full pipe. The
// destructor sends SIGTERM, then SIGKILL after 5 s, and prints the child's output when it did not
// exit cleanly (a crash, a sanitizer report), so that is never lost. kill() is the crash on
// purpose: SIGKILL, and no report.
#pragma once

#include <httplib.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

class ServerProcess {
 public:
  ServerProcess(const std::string& binary, std::vector<std::string> args, std::vector<std::string> env = {}) {
    int out[2];
    if (::pipe(out) != 0) throw std::runtime_error("pipe failed");
    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
      ::dup2(out[1], STDOUT_FILENO);
      ::dup2(out[1], STDERR_FILENO);  // nothing of the child may hold the test's own output open
      ::close(out[0]);
      ::close(out[1]);
      for (const auto& e : env) ::putenv(const_cast<char*>(e.c_str()));
      std::vector<char*> argv{const_cast<char*>(binary.c_str()), const_cast<char*>("serve"),
                              const_cast<char*>("--port"), const_cast<char*>("0")};
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(binary.c_str(), argv.data());
      std::perror("execv");
      ::_exit(127);
    }
    ::close(out[1]);
    fd_ = out[0];
    try {
      port_ = wait_for_port();
    } catch (...) {
      stop();
      throw;
    }
    reader_ = std::thread([this] { drain(); });
  }
  ~ServerProcess() { stop(); }
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;
  int port() const { return port_; }
  httplib::Client client() const {
    httplib::Client c("127.0.0.1", port_);
    c.set_read_timeout(30, 0);
    return c;
  }
  std::string output() const {
    std::lock_guard lock(mu_);
    return output_;
  }
  pid_t pid() const { return pid_; }
  // SIGKILL, as a crash would: no handler runs, nothing is flushed, open transactions are cut off.
  // Waits for the child and its output; an intended kill is not reported as an unclean exit.
  void kill() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    if (reader_.joinable()) reader_.join();
    ::close(fd_);
  }

 private:
  // Reads until the line "racelab serve: listening on http://127.0.0.1:PORT (db …)".
  int wait_for_port() {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
    for (;;) {
      if (auto at = output_.find("listening on http://"); at != std::string::npos) {
        if (auto eol = output_.find('\n', at); eol != std::string::npos) {
          auto colon = output_.find(':', output_.find("//", at) + 2);
          return std::stoi(output_.substr(colon + 1));
        }
      }
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) throw std::runtime_error("racelab serve did not start within 15 s: " + output_);
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      if (!read_some()) throw std::runtime_error("racelab serve did not start: " + output_);
    }
  }
  bool read_some() {
    char buf[4096];
    const auto n = ::read(fd_, buf, sizeof buf);
    if (n <= 0) return false;
    std::lock_guard lock(mu_);
    output_.append(buf, static_cast<std::size_t>(n));
    return true;
  }
  void drain() {
    while (read_some()) {
    }
  }
  void stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    int status = 0;
    pid_t done = 0;
    for (int i = 0; i < 100 && (done = ::waitpid(pid_, &status, WNOHANG)) == 0; ++i) ::usleep(50'000);
    if (done == 0) {  // still there after 5 s: say so, then make sure
      std::fprintf(stderr, "racelab serve (pid %d) ignored SIGTERM for 5 s; killing it\n",
                   static_cast<int>(pid_));
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &status, 0);
    }
    pid_ = -1;
    if (reader_.joinable()) reader_.join();  // the child is gone: its end of the pipe is closed
    ::close(fd_);
    if (done != 0 && !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
      std::fprintf(stderr, "racelab serve did not exit cleanly (status %d); its output:\n%s\n", status,
                   output().c_str());
  }

  pid_t pid_ = -1;
  int fd_ = -1;
  int port_ = 0;
  std::thread reader_;
  mutable std::mutex mu_;
  std::string output_;
};
