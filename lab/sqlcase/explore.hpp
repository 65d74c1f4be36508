// lab/sqlcase/explore.hpp — every interleaving of a case's sessions, on a real database.
//
//   auto c = lab::sqlcase::load("cases/write_skew.sql");
//   auto r = lab::sqlcase::explore(c, {.db = "sqlite:/tmp/ws", .level = "deferred wal"});
//   if (r.report.failed()) std::cout << lab::sqlcase::timeline(c, r.witness);
//
// Each session is a simulated task on a connection of its own; each statement is a point (the
// adapters make it one) and a statement that waits for a lock blocks its task, so the search goes on
// with the others. Every run starts from a fresh database: SQLite, a new file per run (`db` names the
// directory: sqlite:DIR runs in DIR/case.db, `sqlite` alone in a scratch directory removed after);
// PostgreSQL, the schema Options::schema dropped and made again; MariaDB, the database of that name
// dropped and made again. The setup runs first, the check last, both outside the search.
//
// Levels: SQLite `deferred` or `immediate` (how each session's BEGIN takes its locks) and `wal` or
// `rollback` (the journal), e.g. "immediate rollback"; PostgreSQL `read committed`, `repeatable read`,
// `serializable` (each session's default, SET SESSION CHARACTERISTICS); MariaDB `read uncommitted`,
// `read committed`, `repeatable read` (InnoDB's default) and `serializable` (SET SESSION TRANSACTION).
#pragma once

#include <racelab/explore.hpp>

#include <cstdint>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "sqlcase/case.hpp"
#include "sqlcase/history.hpp"

namespace lab::sqlcase {

struct Options {
  std::string db{};     // sqlite, sqlite:DIR, a PostgreSQL conninfo / postgresql:// URL, or mariadb://…
  std::string level{};  // empty: the backend's default ("deferred wal", "read committed", "repeatable read")
  // NAME=VALUE settings for every session of the case: PostgreSQL `SET NAME = VALUE`, MariaDB
  // `SET SESSION NAME = VALUE`, SQLite `PRAGMA NAME = VALUE` (e.g. innodb_snapshot_isolation=on).
  std::vector<std::string> settings{};
  std::string strategy = "dfs";
  int runs = 100'000;  // at most
  std::uint64_t seed = 0;
  std::string schedule{};              // replay this one
  std::string schema = "racelab_sql";  // PostgreSQL: dropped and made again for each run
  bool verify = false;  // replay every passing run from its schedule too (ExploreOptions::verify)
  // Record what each transaction read and wrote (sqlcase/history.hpp). `judge`: any run whose
  // history is not serializable fails, with or without a check. `describe`: runs fail by the check
  // alone, and the witness's history says which anomaly it is (racelab isolation --history).
  enum class History { off, judge, describe };
  History history = History::off;
  // Called every 10 runs of the case, with how many ran so far (--verify's replays included).
  std::function<void(int runs)> progress{};
};

// One statement as a session ran it, in the order the run did.
struct Step {
  std::string session;
  std::string sql;
  std::string result;   // "2 rows: (alice, t), (bob, t)", "1 row changed", "error: …"
  bool waited = false;  // another session ran while it waited (for a lock)
};

struct Result {
  std::string backend;                // "sqlite", "postgresql", "mariadb"
  std::string level;                  // as applied, e.g. "deferred wal"
  std::vector<std::string> settings;  // as applied, NAME=VALUE
  racelab::Report report;
  std::vector<Step> witness;  // the failing interleaving, replayed from its minimal schedule
  std::string check_value;    // what the check returned in it
  std::optional<racelab::HistoryReport> history;  // with Options::history: the witness's verdict
  std::size_t left_out = 0;  // reads of the witness its history left out (Recorder::left_out)
  bool unordered = false;    // the witness's history could not be trusted to be in order (no verdict)
  // With Options::history, over every run: how many had reads left out of their history, and how
  // many were not judged by it because it may be out of the database's order (Recorder::unordered).
  std::size_t runs_left_out = 0;
  std::size_t runs_unjudged = 0;
  // PostgreSQL: runs in which a transaction's end released a lock two or more sessions waited for,
  // so the server chose who went first; such a run may replay differently (docs/sql.md).
  int server_ordered = 0;
};

// A level the backend does not have, a database that cannot be opened, setup SQL the server rejects.
class RunError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

Result explore(const Case& c, const Options& options);
// The witness as a table: one column per session, one row per statement (a statement that waited
// for a lock shows where it started and where it finished).
std::string timeline(const Case& c, const std::vector<Step>& steps);

}  // namespace lab::sqlcase
