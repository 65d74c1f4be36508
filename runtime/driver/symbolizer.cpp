#include "symbolizer.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

namespace racelab::run {

Symbolizer::Symbolizer(std::string executable, std::uint64_t load_base)
    : executable_(std::move(executable)), base_(load_base) {}

Symbolizer::~Symbolizer() {
  if (pid_ > 0) {
    close(to_);
    close(from_);
    int status = 0;
    waitpid(pid_, &status, 0);
  }
}

bool Symbolizer::start() {
  if (pid_ > 0) return true;
  if (pid_ == 0) return false;  // failed before
  int in[2], out[2];
  if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0) return false;
  pid_ = fork();
  if (pid_ == 0) {
    dup2(in[0], STDIN_FILENO);
    dup2(out[1], STDOUT_FILENO);
    int null = open("/dev/null", O_WRONLY);
    dup2(null, STDERR_FILENO);
    execlp("addr2line", "addr2line", "-e", executable_.c_str(), "-f", "-C", "-i", "-a",
           static_cast<char*>(nullptr));
    _exit(127);
  }
  close(in[0]);
  close(out[1]);
  if (pid_ < 0) {
    pid_ = 0;
    return false;
  }
  to_ = in[1];
  from_ = out[0];
  signal(SIGPIPE, SIG_IGN);
  return true;
}

bool Symbolizer::read_line(std::string& line) {
  for (;;) {
    if (auto nl = buffer_.find('\n'); nl != std::string::npos) {
      line = buffer_.substr(0, nl);
      buffer_.erase(0, nl + 1);
      return true;
    }
    char chunk[4096];
    auto got = ::read(from_, chunk, sizeof chunk);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return false;
    buffer_.append(chunk, static_cast<std::size_t>(got));
  }
}

const std::vector<Frame>& Symbolizer::frames(std::uint64_t pc, bool return_address) {
  auto key = std::make_pair(pc, return_address);
  if (auto it = frames_.find(key); it != frames_.end()) return it->second;
  auto& result = frames_[key];
  if (!start()) return result;
  // A call's return address is the instruction after it: look up the call itself.
  std::uint64_t offset = pc - base_ - (return_address ? 1 : 0);
  char query[64];
  // The second address (0) marks the end of the first one's frames, however many it has.
  int n = std::snprintf(query, sizeof query, "0x%llx\n0\n", static_cast<unsigned long long>(offset));
  if (::write(to_, query, static_cast<std::size_t>(n)) != n) return result;
  std::vector<std::string> lines;
  std::string line;
  if (!read_line(line)) return result;  // the address itself
  for (;;) {
    if (!read_line(line)) return result;
    if (line.starts_with("0x")) break;  // the marker's address: its own two lines follow
    lines.push_back(line);
  }
  for (int k = 0; k < 2; ++k)
    if (!read_line(line)) return result;
  for (std::size_t i = 0; i + 1 < lines.size(); i += 2) {
    Frame f;
    f.function = lines[i];
    auto loc = lines[i + 1];
    if (auto paren = loc.find(" ("); paren != std::string::npos) loc.erase(paren);  // (discriminator N)
    auto colon = loc.rfind(':');
    f.file = colon == std::string::npos ? loc : loc.substr(0, colon);
    if (colon != std::string::npos) f.line = std::atoi(loc.c_str() + colon + 1);
    result.push_back(std::move(f));
  }
  return result;
}

const std::string& Symbolizer::site(std::uint64_t pc, bool return_address) {
  auto key = std::make_pair(pc, return_address);
  if (auto it = sites_.find(key); it != sites_.end()) return it->second;
  std::string site;
  for (const auto& f : frames(pc, return_address)) {
    if (f.file == "??" || f.line == 0 || f.file.starts_with("/usr/")) continue;
    auto slash = f.file.rfind('/');
    site = (slash == std::string::npos ? f.file : f.file.substr(slash + 1)) + ":" + std::to_string(f.line);
    break;
  }
  if (site.empty()) {
    char hex[32];
    std::snprintf(hex, sizeof hex, "+0x%llx", static_cast<unsigned long long>(pc - base_));
    site = hex;
  }
  return sites_[key] = site;
}

}  // namespace racelab::run
