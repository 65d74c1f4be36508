// lab/sqlcase/history.hpp — what a case's transactions read and wrote, as a racelab::History.
//
// `racelab sql --history` judges each interleaving by its history rather than (or as well as) by
// the case's check: the Recorder follows every statement of a run and hands racelab::check() the
// rows each transaction read and the versions it wrote, so an interleaving that is not
// serializable fails, named by Adya's class (G1a, G1c, P4, G2, …), with no check written.
//
// How it sees what a statement did, without a parser for all of SQL (docs/sql.md, "--history"):
// - A write (INSERT, UPDATE, DELETE, REPLACE on one table) reports the rows it wrote: PostgreSQL
//   and SQLite run it with `RETURNING *` added; MariaDB, which has no UPDATE … RETURNING, has a
//   trigger per table that appends each written row's key to a session variable, and the rows are
//   read back by key.
// - A read (SELECT … FROM one table, and the SELECT of an INSERT … SELECT) is followed, in the same
//   scheduling step, by the same query with every column (SELECT * FROM …, its WHERE, ORDER BY,
//   LIMIT and locking clause kept). No other session runs between the two, so it sees the rows the
//   statement saw. Its WHERE is the predicate of a predicate read; whether a version the run wrote
//   matches it is asked of the database after the run (the versions in a temporary table).
// - Reads the recorder cannot see (a subquery in a WHERE, the WHERE of an UPDATE or DELETE) are
//   left out: the checker may then miss an anomaly resting on them, but never invents one.
// A row is (table, primary key); a table without a primary key has its whole row as the key.
#pragma once

#include <racelab/history.hpp>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace lab::sqlcase {

// What a statement returned: its rows (with the columns' names), or how many rows it changed.
struct Answer {
  std::vector<std::string> columns;
  std::vector<std::vector<std::string>> rows;  // NULL shown as "NULL"
  std::vector<std::vector<bool>> nulls;        // which of them are SQL NULL
  std::int64_t changed = 0;
};

// A query that is not a scheduling point and does not wait for a lock (the recorder's own).
using Query = std::function<Answer(const std::string& sql)>;

// The recorder could not follow a run (a query of its own failed, or the history has a read that
// no recorded write explains): the history cannot be trusted, whatever it would say.
class RecordError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct TableInfo {
  std::string name;
  std::vector<std::string> columns;
  std::vector<std::size_t> key;  // the primary key's columns; every column when it has none
  bool primary = true;           // it has a primary key
};

// A statement as the recorder follows it.
struct Shape {
  enum class Kind { none, read, write } kind = Kind::none;
  std::string table;       // as the catalog names it
  std::string alias;       // the name its columns are qualified with (the table's, or its alias)
  std::string shadow;      // read: the query with every column; write: unused
  std::string where;       // read: the condition, empty for every row
  bool predicate = false;  // read: its WHERE says which rows it saw (no subquery, no LIMIT)
  bool deletes = false;    // write: a DELETE (RETURNING gives the rows as they were)
  bool tail = false;       // read: the shadow starts with the statement's own columns; the row is the rest
  // An INSERT … SELECT also reads: the SELECT's shape.
  std::shared_ptr<Shape> reads;
};

class Recorder {
 public:
  // The tables of the case's database (asked of the catalog through `query`, after the setup);
  // `level` as the sessions run, e.g. "repeatable read" (MariaDB's INSERT … SELECT locks there).
  Recorder(std::string backend, std::string level, const Query& query);

  // SQL to run after the setup of every fresh database (MariaDB: the triggers).
  std::vector<std::string> setup_sql() const;
  // How the recorder follows `sql`; throws std::invalid_argument naming what it cannot follow.
  Shape shape(const std::string& sql) const;
  // The SQL to send for a statement of this shape (PostgreSQL, SQLite: writes with RETURNING *).
  std::string rewrite(const std::string& sql, const Shape& shape) const;
  // What to run through the statement's own connection just before it (MariaDB: an empty
  // @racelab_w before a write, whatever a failed statement left there), or nothing.
  std::string before(const Shape& shape) const;

  // A new run: a new history, the initial rows of every table read through `query`.
  void start(const Query& query);
  racelab::History::Txn begin(const std::string& name) { return history_.begin(name); }
  void commit(racelab::History::Txn txn) {
    history_.commit(txn);
    events_.push_back({txn, true});
  }
  void abort(racelab::History::Txn txn) {
    history_.abort(txn);
    events_.push_back({txn, true});
  }
  // After a statement of `shape` ran in `txn` and returned `answer` (a rewritten write's rows are
  // taken out of it: it then says how many rows changed, as the statement as written would);
  // `query` asks on the statement's own connection.
  // `waited_since`: the statement waited for a lock, and this was mark() when it was sent.
  void record(racelab::History::Txn txn, const Shape& shape, const std::string& sql, Answer& answer,
              const Query& query, std::optional<std::size_t> waited_since = std::nullopt);
  // How many operations have been recorded in this run (a position for record's waited_since).
  std::size_t mark() const { return events_.size(); }
  // The run's verdict: the predicates evaluated through `query` (the setup's connection), then
  // racelab::check(). Throws RecordError if the history has a read no recorded write explains.
  racelab::HistoryReport finish(const Query& query);
  const racelab::History& history() const { return history_; }
  // Reads of this run left out of the history: the value they saw was written by more than one
  // transaction (or was the initial value too), so which version they read is not known.
  std::size_t left_out() const { return left_out_; }
  // Whether this run's history may be out of the database's order, so its verdict is not to be
  // trusted: a statement waited for a lock, the lock was released (another transaction ended), and
  // another transaction's read or write was recorded before this statement's could be. The server
  // ran it at the release; racelab records it only when its session runs again.
  bool unordered() const { return unordered_; }

 private:
  using Row = std::vector<std::optional<std::string>>;  // in the catalog's column order
  struct Where {
    std::string table, alias, condition;
    std::shared_ptr<std::set<std::string>> matching;  // key '\x1f' value, filled by finish()
  };
  const TableInfo* table(const std::string& name) const;
  static std::string twins(const TableInfo& t);
  Shape select_shape(const std::string& sql, std::size_t select_at, bool in_insert) const;
  bool ambiguous(racelab::History::Txn reader, const std::string& row, const std::string& value) const;
  void write(racelab::History::Txn txn, const TableInfo& t, const std::string& key,
             const std::optional<std::string>& value, const std::string& sql);
  // The key and value texts of `row` (whose columns are `columns`), and the row in catalog order.
  std::pair<std::string, std::string> key_value(const TableInfo& t, const Row& row);
  Row in_order(const TableInfo& t, const Answer& a, std::size_t i) const;
  void read(racelab::History::Txn txn, const Shape& shape, const std::string& sql, const Query& query);

  std::string backend_;
  std::string level_;
  std::vector<TableInfo> tables_;
  racelab::History history_;
  std::vector<Where> wheres_;
  std::map<std::string, std::map<std::string, Row>> versions_;  // table -> key '\x1f' value -> row
  // Per row (table '\x1f' key): its initial value, and every write to it in order.
  std::map<std::string, std::optional<std::string>> initial_;
  std::map<std::string, std::vector<std::pair<racelab::History::Txn, std::optional<std::string>>>> writes_;
  std::size_t left_out_ = 0;
  bool backslash_ =
      false;  // MariaDB reads a backslash in a string as an escape (unless NO_BACKSLASH_ESCAPES)
  // What was recorded, in order: each operation's transaction and whether it ended one.
  struct Event {
    racelab::History::Txn txn;
    bool ends;
  };
  std::vector<Event> events_;
  bool unordered_ = false;
};

}  // namespace lab::sqlcase
