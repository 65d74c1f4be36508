// lab/sqlcase/cases.hpp — the anomaly cases racelab ships (lab/sqlcase/cases/*.sql), compiled in, so
// `racelab isolation` needs no files beside the binary.
#pragma once

#include <string>
#include <vector>

namespace lab::sqlcase {

struct BuiltinCase {
  const char* file;  // "lost_update.sql"
  const char* text;  // the case file as shipped
};

const std::vector<BuiltinCase>& builtin_cases();  // by file name

}  // namespace lab::sqlcase
