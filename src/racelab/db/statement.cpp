// Names statements for their points. See racelab/db/statement.hpp.
#include "racelab/db/statement.hpp"

#include <cctype>

namespace racelab::db {
namespace {

std::string lower_word(std::string_view sql, std::size_t& at) {
  while (at < sql.size() && !std::isalnum(static_cast<unsigned char>(sql[at])) && sql[at] != '_') ++at;
  std::string word;
  while (at < sql.size() && (std::isalnum(static_cast<unsigned char>(sql[at])) || sql[at] == '_'))
    word += static_cast<char>(std::tolower(static_cast<unsigned char>(sql[at++])));
  return word;
}

}  // namespace

std::string statement_point_name(std::string_view sql) {
  std::size_t at = 0;
  std::string verb = lower_word(sql, at);
  if (verb.empty()) return "sql.statement";
  std::string table;
  if (verb == "select" || verb == "delete") {
    for (std::string w = lower_word(sql, at); !w.empty(); w = lower_word(sql, at))
      if (w == "from") {
        table = lower_word(sql, at);
        break;
      }
  } else if (verb == "insert" || verb == "replace") {
    for (std::string w = lower_word(sql, at); !w.empty(); w = lower_word(sql, at))
      if (w == "into") {
        table = lower_word(sql, at);
        break;
      }
  } else if (verb == "update") {
    table = lower_word(sql, at);
    if (table == "or") {  // UPDATE OR IGNORE t
      lower_word(sql, at);
      table = lower_word(sql, at);
    }
  }
  return table.empty() ? "sql." + verb : "sql." + verb + "." + table;
}

FaultSet statement_faults(std::string_view sql) {
  std::size_t at = 0;
  const std::string verb = lower_word(sql, at);
  if (verb == "rollback") return {};
  if (verb == "begin" || verb == "start") return {Fault::lost_before};
  if (verb == "commit" || verb == "end")
    return {Fault::lost_before, Fault::lost_after_commit, Fault::serialization};
  return {Fault::lost_before, Fault::timeout, Fault::deadlock, Fault::serialization, Fault::busy};
}

}  // namespace racelab::db
