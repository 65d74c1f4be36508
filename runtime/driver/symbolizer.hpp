// Instruction addresses of the program to file:line and function names, through binutils'
// addr2line kept running beside the driver (one process for the whole session, answers cached).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace racelab::run {

struct Frame {
  std::string function;  // demangled; "??" when unknown
  std::string file;      // as recorded in the debug info; "??" when unknown
  int line = 0;
};

class Symbolizer {
 public:
  Symbolizer(std::string executable, std::uint64_t load_base);
  ~Symbolizer();
  Symbolizer(const Symbolizer&) = delete;
  Symbolizer& operator=(const Symbolizer&) = delete;

  // The frames at return address or instruction `pc`, innermost (inlined) first.
  const std::vector<Frame>& frames(std::uint64_t pc, bool return_address = true);
  // "file.c:12": the innermost frame outside the system's headers and libraries, by base name;
  // "+0x1234" (the offset in the executable) when there is no line information.
  const std::string& site(std::uint64_t pc, bool return_address = true);

 private:
  bool start();
  bool read_line(std::string& line);
  std::string executable_;
  std::uint64_t base_;
  pid_t pid_ = -1;
  int to_ = -1;
  int from_ = -1;
  std::string buffer_;
  std::map<std::pair<std::uint64_t, bool>, std::vector<Frame>> frames_;
  std::map<std::pair<std::uint64_t, bool>, std::string> sites_;
};

}  // namespace racelab::run
