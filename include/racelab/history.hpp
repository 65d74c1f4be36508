// racelab/history.hpp — transaction histories and the anomaly checker (Adya's classes).
//
// An invariant says what must hold after the runs; a history says what each transaction saw. A
// History records, in the order they happened, every transaction's item reads (the value a row had
// for it), its writes, its predicate reads (a WHERE over a table and the rows it returned) and how
// it ended. check() builds Adya's direct serialization graph from it — write-write (ww),
// write-read (wr) and read-write anti-dependency (rw; prw for a predicate read) edges between
// committed transactions — and names what it finds, with no invariant written for the scenario:
//
//   G0 dirty write        a cycle of ww edges, or a transaction that read another's overwrite
//                         of its own uncommitted write
//   G1a aborted read      a committed transaction read a write of one that aborted
//   G1b intermediate read a committed transaction read a value its writer later overwrote
//   G1c circular flow     a cycle of ww and wr edges
//   P4 lost update        a G-single of two transactions that read one version and both wrote it
//   G-single read skew    a cycle with exactly one anti-dependency edge
//   OTV                   a G-single of two transactions where the reader saw the writer's write
//                         and then an older version of another row it wrote (observed, then gone)
//   PMP                   a G-single whose anti-dependency comes from a predicate read
//   G2-item write skew    a cycle with item anti-dependencies only
//   G2                    a cycle with a predicate anti-dependency
//
//   racelab::History h;
//   auto t1 = h.begin("T1"), t2 = h.begin("T2");
//   h.read(t1, "counters", "1", "0");  h.read(t2, "counters", "1", "0");
//   h.write(t1, "counters", "1", "1"); h.commit(t1);
//   h.write(t2, "counters", "1", "1"); h.commit(t2);
//   auto report = racelab::check(h);   // report.has("P4"); std::cout << report.text();
//
// The model (docs/history.md):
// - A row is (table, key); its value is text, or no value (std::nullopt) when it does not exist.
//   An insert writes a value to a key that had none; a delete writes std::nullopt.
// - Version order: a row's versions are its committed transactions' last writes to it, in the
//   order those writes happened. That is the database's order wherever a write holds a row lock
//   to the end of its transaction (SQLite, PostgreSQL, MariaDB), and it lets a history built by
//   hand (or a store that allows dirty writes) show G0.
// - A read is matched to the write that explains it: the reader's own last write to the row if
//   it has that value; else the latest write of that value by a transaction that had committed
//   (its last write to the row) when the read happened; else the latest write of that value at
//   all (an uncommitted, aborted or intermediate one); else the row's initial value. A row's
//   initial value is what initial() declared, or else the first value read that no write explains.
//   Values unique per row make this exact; where a value repeats the nearest write wins.
// - A predicate read saw, for each row of its table it did not return, the latest committed
//   version before the read that its predicate does not match. A later version of such a row (or
//   of a returned one) that changes whether the predicate matches is a prw edge to its writer.
// - Transactions still running when check() is called count as aborted.
// - Every nontrivial strongly connected component of the graph is one anomaly, named by the most
//   specific class it contains (G0, then G1c, then the G-single family, then G2-item, then G2); its
//   cycle is a shortest one through the component's earliest transaction for that class.
//
// check() is linear in the history's length for histories whose anomalies are small (the usual
// case: a few transactions per cycle); a predicate read costs the size of its table.
//
// Thread-safe: real threads may record into one History (each call takes its lock); the order of
// the calls is the history's order. A transaction id belongs to the History that made it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace racelab {

// Misuse of a History: an unknown transaction id, an operation after commit or abort.
class HistoryError : public std::logic_error {
 public:
  using std::logic_error::logic_error;
};

class History {
 public:
  using Txn = std::uint32_t;
  using Value = std::optional<std::string>;  // std::nullopt: the row does not exist
  using Matches = std::function<bool(std::string_view key, std::string_view value)>;
  using Row = std::pair<std::string, std::string>;  // key, value

  History();
  ~History();
  History(History&&) noexcept;
  History& operator=(History&&) noexcept;

  Txn begin(std::string name = {});  // named "T1", "T2", … when no name is given
  void initial(std::string_view table, std::string_view key, Value value);
  void read(Txn txn, std::string_view table, std::string_view key, Value value,
            std::string_view statement = {});
  void write(Txn txn, std::string_view table, std::string_view key, Value value,
             std::string_view statement = {});
  // A read of every row of `table` that `matches` (described as `predicate`); `rows` are the rows it
  // returned. `matches` is kept and called by check().
  void read_where(Txn txn, std::string_view table, std::string predicate, Matches matches,
                  std::vector<Row> rows, std::string_view statement = {});
  void commit(Txn txn);
  void abort(Txn txn);

  std::size_t transactions() const;
  std::size_t operations() const;
  std::string text() const;  // one line per operation, in order: "T1 read counters/1 = 0"

  struct Data;
  const Data& data() const { return *data_; }

 private:
  std::unique_ptr<Data> data_;
};

// One edge of the serialization graph, with the operations that made it.
struct HistoryEdge {
  enum class Kind { ww, wr, rw, prw };
  Kind kind = Kind::ww;
  std::string from, to;  // transaction names
  std::string row;       // "table/key", or the predicate for prw
  std::string from_op;   // what `from` did: "read counters/1 = 0 (SELECT n FROM counters)"
  std::string to_op;     // what `to` did
  std::string text() const;
};
std::string_view to_string(HistoryEdge::Kind kind);

struct Anomaly {
  std::string name;         // "G0", "G1a", "G1b", "G1c", "P4", "G-single", "OTV", "PMP", "G2-item", "G2"
  std::string description;  // one sentence
  std::vector<std::string> transactions;  // in cycle order (the reader and the writer for G1a/G1b)
  std::vector<HistoryEdge> cycle;         // empty for G1a and G1b
  std::string text() const;               // name, sentence, then the cycle's edges one per line
};
std::string_view anomaly_title(std::string_view name);  // "lost update" for "P4"

struct HistoryReport {
  std::size_t transactions = 0, committed = 0, aborted = 0, edges = 0;
  std::vector<Anomaly> anomalies;     // G1a/G1b first, then one per graph component, by first transaction
  std::vector<std::string> problems;  // reads no write or initial value explains
  bool clean() const { return anomalies.empty() && problems.empty(); }
  bool has(std::string_view name) const;
  std::string text() const;  // "history: 2 transactions, clean" or each anomaly
};

HistoryReport check(const History& history);

}  // namespace racelab
