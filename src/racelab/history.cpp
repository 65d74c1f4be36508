// Recording a history, and printing what the checker (history_check.cpp) found in it.
#include "racelab/history.hpp"

#include <algorithm>
#include <array>
#include <limits>
#include <mutex>
#include <sstream>

#include "racelab/detail/history_data.hpp"

namespace racelab {

using detail::kNone;

History::History() : data_(std::make_unique<Data>()) {}
History::~History() = default;
History::History(History&&) noexcept = default;
History& History::operator=(History&&) noexcept = default;

History::Txn History::begin(std::string name) {
  std::lock_guard lock(data_->mu);
  auto id = static_cast<Txn>(data_->txns.size());
  if (name.empty()) name = "T" + std::to_string(id + 1);
  data_->txns.push_back({std::move(name), Data::State::running, 0});
  return id;
}

void History::initial(std::string_view table, std::string_view key, Value value) {
  std::lock_guard lock(data_->mu);
  auto row = data_->row_id(table, key);
  data_->initial[row] = data_->value_id(value);
}

void History::read(Txn txn, std::string_view table, std::string_view key, Value value,
                   std::string_view statement) {
  std::lock_guard lock(data_->mu);
  data_->live(txn, "read");
  data_->add(Data::OpKind::read, txn, data_->row_id(table, key), data_->value_id(value), statement);
}

void History::write(Txn txn, std::string_view table, std::string_view key, Value value,
                    std::string_view statement) {
  std::lock_guard lock(data_->mu);
  data_->live(txn, "write");
  data_->add(Data::OpKind::write, txn, data_->row_id(table, key), data_->value_id(value), statement);
}

void History::read_where(Txn txn, std::string_view table, std::string predicate, Matches matches,
                         std::vector<Row> rows, std::string_view statement) {
  if (!matches) throw HistoryError("History::read_where: no predicate function for '" + predicate + "'");
  std::lock_guard lock(data_->mu);
  data_->live(txn, "read_where");
  Data::Where w{data_->tables.id(table), std::move(predicate), std::move(matches), {}};
  if (w.table >= data_->table_rows.size()) data_->table_rows.resize(w.table + 1);
  for (auto& [key, value] : rows) w.rows.emplace_back(data_->row_id(table, key), data_->values.id(value));
  data_->wheres.push_back(std::move(w));
  data_->add(Data::OpKind::where, txn, kNone, kNone, statement,
             static_cast<std::uint32_t>(data_->wheres.size() - 1));
}

void History::commit(Txn txn) {
  std::lock_guard lock(data_->mu);
  auto& t = data_->live(txn, "commit");
  t.state = Data::State::committed;
  t.end_event = data_->events++;
}

void History::abort(Txn txn) {
  std::lock_guard lock(data_->mu);
  auto& t = data_->live(txn, "abort");
  t.state = Data::State::aborted;
  t.end_event = data_->events++;
}

std::size_t History::transactions() const {
  std::lock_guard lock(data_->mu);
  return data_->txns.size();
}

std::size_t History::operations() const {
  std::lock_guard lock(data_->mu);
  return data_->ops.size();
}

std::string History::text() const {
  std::lock_guard lock(data_->mu);
  const auto& d = *data_;
  std::string s;
  std::size_t op = 0;
  // Ops and ends interleave by event number.
  std::vector<std::pair<std::uint64_t, Txn>> ends;
  for (Txn t = 0; t < d.txns.size(); ++t)
    if (d.txns[t].state != Data::State::running) ends.emplace_back(d.txns[t].end_event, t);
  std::sort(ends.begin(), ends.end());
  std::size_t end = 0;
  while (op < d.ops.size() || end < ends.size()) {
    if (end < ends.size() && (op == d.ops.size() || ends[end].first < d.ops[op].event)) {
      auto& t = d.txns[ends[end++].second];
      s += t.name + (t.state == Data::State::committed ? " commit\n" : " abort\n");
    } else {
      s += d.txns[d.ops[op].txn].name + " " + d.op_text(static_cast<std::uint32_t>(op)) + "\n";
      ++op;
    }
  }
  return s;
}

std::string_view to_string(HistoryEdge::Kind kind) {
  switch (kind) {
    case HistoryEdge::Kind::ww: return "ww";
    case HistoryEdge::Kind::wr: return "wr";
    case HistoryEdge::Kind::rw: return "rw";
    case HistoryEdge::Kind::prw: return "prw";
  }
  return "?";
}

std::string HistoryEdge::text() const {
  std::string what;
  switch (kind) {
    case Kind::ww: what = "; later " + to + " "; break;
    case Kind::wr: what = "; " + to + " "; break;
    case Kind::rw:
    case Kind::prw: what = "; " + to + " then "; break;
  }
  return from + " -" + std::string(to_string(kind)) + "-> " + to + ": " + from + " " + from_op + what + to_op;
}

std::string_view anomaly_title(std::string_view name) {
  static constexpr std::array<std::pair<std::string_view, std::string_view>, 10> kTitles{{
      {"G0", "dirty write"},
      {"G1a", "aborted read"},
      {"G1b", "intermediate read"},
      {"G1c", "circular information flow"},
      {"P4", "lost update"},
      {"G-single", "read skew"},
      {"OTV", "observed transaction vanishes"},
      {"PMP", "predicate-many-preceders"},
      {"G2-item", "write skew"},
      {"G2", "anti-dependency cycle through a predicate read"},
  }};
  for (auto& [n, title] : kTitles)
    if (n == name) return title;
  return "unknown anomaly";
}

std::string Anomaly::text() const {
  std::string s = name + " (" + std::string(anomaly_title(name)) + "): " + description;
  for (const auto& e : cycle) s += "\n  " + e.text();
  return s;
}

bool HistoryReport::has(std::string_view name) const {
  return std::any_of(anomalies.begin(), anomalies.end(), [&](const Anomaly& a) { return a.name == name; });
}

std::string HistoryReport::text() const {
  std::ostringstream out;
  out << "history: " << transactions << " transactions (" << committed << " committed, " << aborted
      << " aborted), " << edges << " dependency edges; ";
  if (clean()) {
    out << "no anomaly";
    return out.str();
  }
  out << anomalies.size() << (anomalies.size() == 1 ? " anomaly" : " anomalies");
  if (!problems.empty()) out << ", " << problems.size() << (problems.size() == 1 ? " problem" : " problems");
  for (const auto& a : anomalies) out << "\n" << a.text();
  for (const auto& p : problems) out << "\nproblem: " << p;
  return out.str();
}

}  // namespace racelab
