#include "sqlcase/case.hpp"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

namespace lab::sqlcase {
namespace {

std::string trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return std::string(s);
}

std::string upper_words(std::string_view sql, int words) {
  std::string out;
  std::size_t i = 0;
  for (int w = 0; w < words; ++w) {
    while (i < sql.size() && std::isspace(static_cast<unsigned char>(sql[i]))) ++i;
    if (i >= sql.size()) break;
    if (!out.empty()) out += ' ';
    while (i < sql.size() && std::isalpha(static_cast<unsigned char>(sql[i])))
      out += static_cast<char>(std::toupper(static_cast<unsigned char>(sql[i++])));
  }
  return out;
}

// The statement upper-cased, with no white space: "COMMIT AND  chain" -> "COMMITANDCHAIN".
std::string squeezed_upper(std::string_view sql) {
  std::string out;
  for (char ch : sql)
    if (!std::isspace(static_cast<unsigned char>(ch)))
      out += static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  return out;
}

}  // namespace

// Which transaction-ending setting a statement sets, if any: "AUTOCOMMIT", "COMPLETION_TYPE" or "".
// Read as the server would: quoted text is not looked into, comments are dropped (MariaDB's
// executable /*!NNNNN … */ kept as code), backquotes go, and every assignment of a SET list counts
// ("SET sql_mode = '', autocommit = 0", "SET @@session.autocommit=0", "SET LOCAL x TO 2").
std::string sets_transaction_mode(std::string_view sql) {
  std::string code;  // upper-cased, strings blanked, comments dropped
  for (std::size_t i = 0; i < sql.size(); ++i) {
    const char c = sql[i];
    if (c == '\'' || c == '"') {
      const char q = c;
      for (++i; i < sql.size() && sql[i] != q; ++i) {
      }
      code += " '' ";
    } else if (c == '/' && i + 1 < sql.size() && sql[i + 1] == '*') {
      if (i + 2 < sql.size() && sql[i + 2] == '!') {  // executable: its version digits go, its code stays
        i += 3;
        while (i < sql.size() && std::isdigit(static_cast<unsigned char>(sql[i]))) ++i;
        --i;
        code += ' ';
      } else {
        const auto end = sql.find("*/", i + 2);
        i = end == std::string_view::npos ? sql.size() : end + 1;
        code += ' ';
      }
    } else if (c == '*' && i + 1 < sql.size() && sql[i + 1] == '/') {
      ++i;
      code += ' ';
    } else if (c == '#' || (c == '-' && i + 1 < sql.size() && sql[i + 1] == '-')) {  // to the end of the line
      while (i < sql.size() && sql[i] != '\n') ++i;
      code += ' ';
    } else if (c == '`') {
      code += ' ';
    } else {
      code += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    }
  }
  const auto first = code.find_first_not_of(" \t\n");
  if (first == std::string::npos || code.compare(first, 3, "SET") != 0 ||
      (first + 3 < code.size() &&
       (std::isalnum(static_cast<unsigned char>(code[first + 3])) || code[first + 3] == '_')))
    return {};
  auto ident = [](char ch) { return std::isalnum(static_cast<unsigned char>(ch)) || ch == '_'; };
  for (const char* name : {"AUTOCOMMIT", "COMPLETION_TYPE"}) {
    const std::size_t n = std::strlen(name);
    for (auto at = code.find(name, first + 3); at != std::string::npos; at = code.find(name, at + 1)) {
      if (ident(code[at - 1]) || (at + n < code.size() && ident(code[at + n])))
        continue;  // part of a longer name
      // A user variable (@autocommit) or another option's part (myapp.autocommit) is no setting;
      // @@autocommit, @@session.autocommit and session.autocommit are.
      if (code[at - 1] == '@' && code[at - 2] != '@') continue;
      if (code[at - 1] == '.') {
        const std::string_view before = std::string_view(code).substr(0, at);
        if (!before.ends_with("SESSION.") && !before.ends_with("LOCAL.") && !before.ends_with("GLOBAL."))
          continue;
      }
      std::size_t k = at + n;
      while (k < code.size() && std::isspace(static_cast<unsigned char>(code[k]))) ++k;
      if (code.compare(k, 1, "=") == 0 || code.compare(k, 2, ":=") == 0 ||
          (code.compare(k, 2, "TO") == 0 && (k + 2 >= code.size() || !ident(code[k + 2]))))
        return name;
    }
  }
  return {};
}

namespace {

// Transactions are begun and ended by statements the search can see, in the sessions and in the
// setup alike: not by a setting that leaves one open past the last statement (autocommit off, a
// completion type that chains or releases), nor by a chain that begins the next one at once.
void refuse_hidden_transactions(const Statement& st, const std::string& section, const std::string& where) {
  const std::string who = section == "setup" ? std::string("the setup") : "session " + section;
  const std::string variable = sets_transaction_mode(st.sql);
  if (variable == "AUTOCOMMIT" || variable == "COMPLETION_TYPE")
    throw CaseError(
        where + who + " sets " + (variable == "AUTOCOMMIT" ? "autocommit" : "completion_type") +
        ": begin and end transactions with BEGIN; and COMMIT; (or ROLLBACK;) instead, so that each "
        "is seen to end");
  const std::string words = upper_words(st.sql, 1);
  const std::string flat = squeezed_upper(st.sql);
  if ((words == "COMMIT" || words == "ROLLBACK" || words == "END" || words == "ABORT") &&
      flat.find("ANDCHAIN") != std::string::npos && flat.find("ANDNOCHAIN") == std::string::npos)
    throw CaseError(where + who +
                    " ends a transaction AND CHAIN, which begins the next at once: end it with COMMIT; or "
                    "ROLLBACK; and BEGIN; again");
}

bool begins_transaction(std::string_view sql) {
  const auto w = upper_words(sql, 2);
  return w == "BEGIN" || w.starts_with("BEGIN ") || w == "START TRANSACTION";
}

bool ends_transaction(std::string_view sql) {
  const auto w = upper_words(sql, 1);
  return w == "COMMIT" || w == "ROLLBACK" || w == "END" || w == "ABORT";
}

// A section's text (its lines joined) into statements, ';' outside quotes ending each.
struct Splitter {
  const std::string& source;
  std::vector<Statement> out;
  std::string current;
  int current_line = 0;
  char quote = 0;       // ' or " while inside one
  bool dollar = false;  // inside $$ … $$
  void feed(std::string_view text, int line) {
    for (std::size_t i = 0; i < text.size(); ++i) {
      const char c = text[i];
      if (trim(current).empty() && !std::isspace(static_cast<unsigned char>(c))) current_line = line;
      if (quote != 0) {
        if (c == quote) quote = 0;
      } else if (dollar) {
        if (c == '$' && i + 1 < text.size() && text[i + 1] == '$') {
          dollar = false;
          current += "$$";
          ++i;
          continue;
        }
      } else if (c == '-' && i + 1 < text.size() && text[i + 1] == '-') {
        break;  // a comment to the end of the line
      } else if (c == '\'' || c == '"') {
        quote = c;
      } else if (c == '$' && i + 1 < text.size() && text[i + 1] == '$') {
        dollar = true;
        current += "$$";
        ++i;
        continue;
      } else if (c == ';') {
        flush();
        continue;
      } else if (c == '\\' && text.substr(i, 5) == "\\gset") {  // ends its statement, as in psql
        current += "\\gset";
        flush();
        i += 4;
        continue;
      }
      current += c;
    }
    current += ' ';
  }
  void flush() {
    std::string sql;
    bool space = false;
    for (char c : trim(current)) {  // blanks collapsed, for the timeline (quotes kept as written)
      if (std::isspace(static_cast<unsigned char>(c))) {
        space = true;
        continue;
      }
      if (space && !sql.empty()) sql += ' ';
      space = false;
      sql += c;
    }
    bool gset = false;
    if (sql.ends_with("\\gset")) {
      gset = true;
      sql = trim(std::string_view(sql).substr(0, sql.size() - 5));
    }
    if (!sql.empty()) out.push_back({sql, current_line, gset});
    current.clear();
  }
  std::vector<Statement> finish(int last_line) {
    if (quote != 0 || dollar)
      throw CaseError(source + ":" + std::to_string(current_line) + ": a quote opened here is never closed");
    if (!trim(current).empty())
      throw CaseError(source + ":" + std::to_string(current_line) + ": the statement '" + trim(current) +
                      "' has no ';' at its end (line " + std::to_string(last_line) + ")");
    return std::move(out);
  }
};

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool valid_name(std::string_view name) {
  if (name.empty() || !std::isalpha(static_cast<unsigned char>(name.front()))) return false;
  for (char c : name)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') return false;
  return true;
}

}  // namespace

Case parse(std::string_view text, const std::string& source) {
  Case out;
  out.source = source;
  struct Section {
    std::string name;
    int line = 0;
    std::vector<std::pair<std::string, int>> lines;
  };
  std::vector<Section> sections;
  std::istringstream in{std::string(text)};
  std::string raw;
  int number = 0;
  auto where = [&](int line) { return source + ":" + std::to_string(line) + ": "; };
  while (std::getline(in, raw)) {
    ++number;
    const std::string line = trim(raw);
    if (line.empty()) continue;
    if (line.starts_with("--")) {
      const std::string comment = trim(std::string_view(line).substr(2));
      if (comment.starts_with("anomaly:") && sections.empty())
        out.anomaly = trim(std::string_view(comment).substr(8));
      else if (out.title.empty() && sections.empty())
        out.title = comment;
      continue;
    }
    if (std::isspace(static_cast<unsigned char>(raw.front()))) {
      if (sections.empty())
        throw CaseError(where(number) + "an indented line continues a section, but no section has begun");
      sections.back().lines.emplace_back(raw, number);
      continue;
    }
    const auto colon = raw.find(':');
    std::string name = colon == std::string::npos ? std::string() : trim(raw.substr(0, colon));
    if (lower(name) == "setup" || lower(name) == "check") name = lower(name);  // Setup:, CHECK: too
    if (!valid_name(name))
      throw CaseError(where(number) +
                      "expected 'setup:', 'check:' or a session 'NAME:' at the start of the line, got '" +
                      line.substr(0, 40) + "'");
    for (const auto& s : sections)
      if (s.name == name)
        throw CaseError(where(number) + "'" + name + ":' appears twice (first at line " +
                        std::to_string(s.line) + ")");
    sections.push_back({name, number, {{raw.substr(colon + 1), number}}});
  }
  for (const auto& section : sections) {
    Splitter split{source, {}, {}, section.line};
    for (const auto& [t, line] : section.lines) split.feed(t, line);
    auto statements = split.finish(section.lines.back().second);
    if (statements.empty()) throw CaseError(where(section.line) + "'" + section.name + ":' has no statement");
    if (section.name == "setup" || section.name == "check")
      for (const auto& st : statements)
        if (st.gset)
          throw CaseError(where(st.line) + "\\gset keeps values for a session's later statements; '" +
                          section.name + ":' has no session");
    if (section.name != "check")
      for (const auto& st : statements) refuse_hidden_transactions(st, section.name, where(st.line));
    if (section.name == "setup") {
      int open_at = 0;  // the setup too ends what it begins: the sessions would wait on its locks
      for (const auto& st : statements)
        open_at = begins_transaction(st.sql) ? st.line : ends_transaction(st.sql) ? 0 : open_at;
      if (open_at != 0)
        throw CaseError(where(open_at) +
                        "the setup never commits the transaction it begins here (add COMMIT; or ROLLBACK;)");
      out.setup = std::move(statements);
    } else if (section.name == "check") {
      if (statements.size() != 1)
        throw CaseError(where(section.line) +
                        "'check:' must be one query (its single value must be true), got " +
                        std::to_string(statements.size()) + " statements");
      out.check = std::move(statements.front());
    } else {
      // A session must end every transaction it begins: the search explores what it commits.
      int open_at = 0;
      for (const auto& st : statements) {
        if (begins_transaction(st.sql)) {
          if (open_at != 0)
            throw CaseError(where(st.line) + "session " + section.name +
                            " begins a transaction inside the one begun at line " + std::to_string(open_at));
          open_at = st.line;
        } else if (ends_transaction(st.sql)) {
          open_at = 0;
        }
      }
      if (open_at != 0)
        throw CaseError(where(open_at) + "session " + section.name +
                        " never commits: the transaction it begins here is still open at its end (add "
                        "COMMIT; or ROLLBACK;)");
      out.sessions.push_back({section.name, std::move(statements), section.line});
    }
  }
  if (out.sessions.size() < 2 || out.sessions.size() > 4)
    throw CaseError(source + ": a case needs two to four sessions, this one has " +
                    std::to_string(out.sessions.size()));
  return out;
}

Case load(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw CaseError(path + ": cannot read the case file");
  std::stringstream text;
  text << in.rdbuf();
  return parse(text.str(), path);
}

}  // namespace lab::sqlcase
