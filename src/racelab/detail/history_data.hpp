// History's recorded state, shared by the recorder (history.cpp) and the checker (history_check.cpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "racelab/history.hpp"

namespace racelab {
namespace detail {

constexpr std::uint32_t kNone =
    std::numeric_limits<std::uint32_t>::max();  // no value: the row does not exist
constexpr std::uint32_t kUnset = kNone - 1;     // an initial value not declared

inline std::uint64_t pair_key(std::uint32_t a, std::uint32_t b) { return (std::uint64_t{a} << 32) | b; }

// Strings interned to dense ids: values and statements repeat, and ids compare in one instruction.
// Looked up by string_view (a transparent hash), so a value already seen costs no allocation.
struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};
using StringIds = std::unordered_map<std::string, std::uint32_t, StringHash, std::equal_to<>>;

struct Interner {
  std::vector<std::string> text;
  StringIds ids;
  std::uint32_t id(std::string_view s) {
    if (auto it = ids.find(s); it != ids.end()) return it->second;
    auto id = static_cast<std::uint32_t>(text.size());
    ids.emplace(std::string(s), id);
    text.emplace_back(s);
    return id;
  }
};

}  // namespace detail

struct History::Data {
  enum class State : std::uint8_t { running, committed, aborted };
  struct Transaction {
    std::string name;
    State state = State::running;
    std::uint64_t end_event = 0;
  };
  enum class OpKind : std::uint8_t { read, write, where };
  struct Op {
    OpKind kind;
    std::uint32_t txn, row, value, statement, where;
    std::uint64_t event;
  };
  struct RowInfo {
    std::uint32_t table;
    std::string key;
  };
  struct Where {
    std::uint32_t table;
    std::string predicate;
    Matches matches;
    std::vector<std::pair<std::uint32_t, std::uint32_t>> rows;  // row, value
  };

  mutable std::mutex mu;
  std::vector<Transaction> txns;
  std::vector<Op> ops;
  std::vector<Where> wheres;
  std::vector<RowInfo> rows;
  std::vector<std::uint32_t> initial;  // per row: a value id, detail::kNone or detail::kUnset
  std::vector<std::vector<std::uint32_t>> table_rows;
  detail::Interner tables, values, statements;
  detail::StringIds row_ids;
  std::string scratch;  // row_id's lookup key, kept to reuse its buffer
  std::uint64_t events = 0;

  Data() { statements.id(""); }

  std::uint32_t value_id(const Value& v) { return v ? values.id(*v) : detail::kNone; }
  std::uint32_t row_id(std::string_view table, std::string_view key) {
    scratch.assign(table).push_back('\x1f');
    scratch.append(key);
    if (auto found = row_ids.find(scratch); found != row_ids.end()) return found->second;
    auto [it, added] = row_ids.emplace(scratch, static_cast<std::uint32_t>(rows.size()));
    if (added) {
      auto t = tables.id(table);
      if (t >= table_rows.size()) table_rows.resize(t + 1);
      table_rows[t].push_back(it->second);
      rows.push_back({t, std::string(key)});
      initial.push_back(detail::kUnset);
    }
    return it->second;
  }
  Transaction& live(Txn txn, const char* what) {
    if (txn >= txns.size())
      throw HistoryError(std::string("History::") + what + ": unknown transaction " + std::to_string(txn));
    auto& t = txns[txn];
    if (t.state != State::running)
      throw HistoryError(std::string("History::") + what + ": transaction '" + t.name + "' has already " +
                         (t.state == State::committed ? "committed" : "aborted"));
    return t;
  }
  void add(OpKind kind, Txn txn, std::uint32_t row, std::uint32_t value, std::string_view statement,
           std::uint32_t where = detail::kNone) {
    ops.push_back({kind, txn, row, value, statements.id(statement), where, events++});
  }

  std::string row_text(std::uint32_t row) const { return tables.text[rows[row].table] + "/" + rows[row].key; }
  std::string value_text(std::uint32_t value) const {
    return value == detail::kNone ? "(no row)" : values.text[value];
  }
  std::string op_text(std::uint32_t index) const {
    const auto& op = ops[index];
    std::string s;
    switch (op.kind) {
      case OpKind::read: s = "read " + row_text(op.row) + " = " + value_text(op.value); break;
      case OpKind::write:
        s = op.value == detail::kNone ? "deleted " + row_text(op.row)
                                      : "wrote " + row_text(op.row) + " = " + value_text(op.value);
        break;
      case OpKind::where: {
        const auto& w = wheres[op.where];
        s = "read " + tables.text[w.table] + " WHERE " + w.predicate + " (" + std::to_string(w.rows.size()) +
            (w.rows.size() == 1 ? " row)" : " rows)");
        break;
      }
    }
    if (op.statement != 0) s += " [" + statements.text[op.statement] + "]";
    return s;
  }
};

}  // namespace racelab
