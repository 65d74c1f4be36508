// lab/sqlcase/case.hpp — SQL sessions as text: the case file `racelab sql` explores.
//
//   -- write skew: two doctors go off call at once
//   setup: CREATE TABLE doctors(name TEXT PRIMARY KEY, on_call BOOLEAN NOT NULL);
//          INSERT INTO doctors VALUES ('alice', true), ('bob', true);
//   T1: BEGIN; SELECT count(*) FROM doctors WHERE on_call;
//       UPDATE doctors SET on_call = false WHERE name = 'alice'; COMMIT;
//   T2: BEGIN; SELECT count(*) FROM doctors WHERE on_call;
//       UPDATE doctors SET on_call = false WHERE name = 'bob'; COMMIT;
//   check: SELECT count(*) >= 1 FROM doctors WHERE on_call;
//
// A section starts at the beginning of a line with its name and a colon: `setup:` (optional, run
// before every interleaving), `check:` (optional, one query whose single value must be true after
// it) and two to four sessions with names of letters, digits and `_` (each a connection of its own).
// Lines that start with blanks continue the section above. Statements end with `;` outside quotes
// ('…', "…", $$…$$). Lines starting with `--` are comments; the first comment is the case's title,
// and `-- anomaly: NAME` (before the first section) names what its check catches (G0, P4, …).
// A session's query that ends with `\gset` (as in psql) keeps its one row: each column's value
// replaces `:COLUMN` in the session's later statements, so a session can write what it read
// (`SELECT n FROM counter \gset; UPDATE counter SET n = :n + 1;`).
// docs/sql.md has the whole format.
#pragma once

#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace lab::sqlcase {

struct Statement {
  std::string sql;    // without its `;` (and `\gset`), blanks collapsed
  int line = 0;       // where it starts in the case file
  bool gset = false;  // ended with `\gset`: its one row's columns become the session's :NAME values
};

struct Session {
  std::string name;
  std::vector<Statement> statements;
  int line = 0;
};

struct Case {
  std::string source;   // the file name, for messages
  std::string title;    // the first comment, if any
  std::string anomaly;  // `-- anomaly: NAME` before the first section: what the check catches
  std::vector<Statement> setup;
  std::vector<Session> sessions;
  std::optional<Statement> check;
};

// A case that does not parse, or one that cannot be run (a session that never commits): the
// message starts with "SOURCE:LINE: ".
class CaseError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

Case parse(std::string_view text, const std::string& source = "case");
// "AUTOCOMMIT" or "COMPLETION_TYPE" if the statement sets one of them (any assignment of a SET
// list, comments and quoting read as the server reads them), else "": such a setting would end
// transactions where no statement of a case does.
std::string sets_transaction_mode(std::string_view sql);
Case load(const std::string& path);  // throws CaseError (also for a file that cannot be read)

}  // namespace lab::sqlcase
