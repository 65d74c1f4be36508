// lab/service/server_process.hpp — `racelab serve` as a child process on a free port, for the tests
// and the demo's two-instance chapter, which speak HTTP to it.
//
//   ServerProcess server("/path/to/racelab", {"--db", conninfo});
//   auto client = server.client();          // httplib::Client on 127.0.0.1:server.port()
//
// The child's stdout and stderr go to a pipe read until "listening on"; the destructor sends SIGTERM,
// then SIGKILL after 5 s.
#pragma once

#include <httplib.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <stdexcept>
#include <string>
#include <vector>

class ServerProcess {
 public:
  ServerProcess(const std::string& binary, std::vector<std::string> args, std::vector<std::string> env = {}) {
    int out[2];
    if (::pipe(out) != 0) throw std::runtime_error("pipe failed");
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(out[1], STDOUT_FILENO);
      ::dup2(out[1], STDERR_FILENO);  // nothing of the child may hold the test's own output open
      ::close(out[0]);
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
    stdout_ = ::fdopen(out[0], "r");
    char line[512];
    std::string text, seen;  // waiting for "racelab serve: listening on http://127.0.0.1:PORT (db …)"
    while (text.find("listening on http://") == std::string::npos) {
      if (std::fgets(line, sizeof line, stdout_) == nullptr)
        throw std::runtime_error("racelab serve did not start: " + seen);
      text = line;
      seen += text;
    }
    auto colon = text.find(':', text.find("//"));
    port_ = std::stoi(text.substr(colon + 1));
  }
  ~ServerProcess() {
    ::kill(pid_, SIGTERM);
    int status = 0;
    for (int i = 0; i < 100 && ::waitpid(pid_, &status, WNOHANG) == 0; ++i) ::usleep(50'000);
    if (::waitpid(pid_, &status, WNOHANG) == 0) {  // still there after 5 s: say so, then make sure
      std::fprintf(stderr, "racelab serve (pid %d) ignored SIGTERM for 5 s; killing it\n",
                   static_cast<int>(pid_));
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &status, 0);
    }
    if (stdout_ != nullptr) std::fclose(stdout_);
  }
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;
  int port() const { return port_; }
  httplib::Client client() const {
    httplib::Client c("127.0.0.1", port_);
    c.set_read_timeout(30, 0);
    return c;
  }

 private:
  pid_t pid_ = -1;
  FILE* stdout_ = nullptr;
  int port_ = 0;
};
