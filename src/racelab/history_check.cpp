// check(): Adya's direct serialization graph from a History, and its cycles by class.
//
// 1. Versions: each row's committed versions are its committed transactions' last writes to it,
//    in the order of those writes (history.hpp, "Version order").
// 2. One pass over the operations in order resolves each read of a committed transaction to the
//    write that explains it, giving wr and rw edges (and G1a/G1b), and each predicate read to the
//    versions it saw, giving prw edges. ww edges join consecutive versions.
// 3. Tarjan's strongly connected components; each nontrivial one is one anomaly. Searching it for
//    the classes from the most specific down, a cycle is a breadth-first path back from an edge's
//    head to its tail, over the edge kinds the class allows and inside the component. Every edge
//    of a class is tried within a work budget proportional to the component, and the shortest
//    cycle found wins; the order of trying is the history's, so the answer is deterministic.
#include <algorithm>
#include <deque>
#include <unordered_map>
#include <unordered_set>

#include "racelab/detail/history_data.hpp"
#include "racelab/history.hpp"

namespace racelab {
namespace {

using detail::kNone;
using detail::kUnset;
using detail::pair_key;
using Data = History::Data;
using Kind = HistoryEdge::Kind;

struct Edge {
  std::uint32_t from, to;
  Kind kind;
  std::uint32_t from_op, to_op;
  std::uint32_t row;  // the row it is about (for a predicate read's edges, the row that changed)
};

constexpr unsigned bit(Kind k) { return 1u << static_cast<unsigned>(k); }
constexpr unsigned kItemDeps = bit(Kind::ww) | bit(Kind::wr);

class Checker {
 public:
  explicit Checker(const Data& d) : d_(d), initial_(d.initial), out_(d.txns.size()) {}

  HistoryReport run() {
    HistoryReport report;
    report.transactions = d_.txns.size();
    for (const auto& t : d_.txns) {
      if (t.state == Data::State::committed)
        ++report.committed;
      else
        ++report.aborted;
    }
    find_versions();
    resolve_reads(report);
    add_ww_edges();
    report.edges = edges_.size();
    components();
    std::vector<std::uint32_t> order;  // components by their earliest transaction
    for (std::uint32_t c = 0; c < members_.size(); ++c)
      if (members_[c].size() > 1) order.push_back(c);
    std::sort(order.begin(), order.end(),
              [&](auto a, auto b) { return members_[a].front() < members_[b].front(); });
    for (auto c : order) report.anomalies.push_back(classify(c));
    return report;
  }

 private:
  bool committed(std::uint32_t txn) const { return d_.txns[txn].state == Data::State::committed; }

  // Each transaction's writes, one entry per row it wrote, sorted by (transaction, row): its last
  // write there (for the version order) and, during the pass in order, its latest one so far.
  struct Written {
    std::uint32_t txn, row, last, current;
  };

  void find_versions() {
    for (std::uint32_t i = 0; i < d_.ops.size(); ++i)
      if (d_.ops[i].kind == Data::OpKind::write) written_.push_back({d_.ops[i].txn, d_.ops[i].row, i, kNone});
    std::stable_sort(written_.begin(), written_.end(), [](const Written& a, const Written& b) {
      return a.txn != b.txn ? a.txn < b.txn : a.row < b.row;
    });
    std::size_t kept = 0;  // the last write per (transaction, row) wins
    for (std::size_t i = 0; i < written_.size(); ++i) {
      if (kept > 0 && written_[kept - 1].txn == written_[i].txn && written_[kept - 1].row == written_[i].row)
        written_[kept - 1].last = written_[i].last;
      else
        written_[kept++] = written_[i];
    }
    written_.resize(kept);
    version_of_op_.assign(d_.ops.size(), 0);
    final_.assign(d_.ops.size(), false);
    for (const auto& w : written_) final_[w.last] = true;
    versions_.resize(d_.rows.size());
    for (std::uint32_t i = 0; i < d_.ops.size(); ++i) {
      const auto& op = d_.ops[i];
      if (op.kind != Data::OpKind::write || !committed(op.txn) || !final_[i]) continue;
      versions_[op.row].push_back(i);
      version_of_op_[i] = static_cast<std::uint32_t>(versions_[op.row].size());
    }
  }

  Written* written(std::uint32_t txn, std::uint32_t row) {
    auto it = std::lower_bound(written_.begin(), written_.end(), std::pair{txn, row},
                               [](const Written& w, auto key) {
                                 return w.txn != key.first ? w.txn < key.first : w.row < key.second;
                               });
    return it != written_.end() && it->txn == txn && it->row == row ? &*it : nullptr;
  }
  std::uint32_t current_write(std::uint32_t txn, std::uint32_t row) {
    auto* w = written(txn, row);
    return w ? w->current : kNone;
  }
  // The version a write belongs to: its transaction's last write to the row, if it committed; else 0.
  std::uint32_t version_of(std::uint32_t write_op) {
    const auto& op = d_.ops[write_op];
    auto* w = written(op.txn, op.row);
    return w ? version_of_op_[w->last] : 0;
  }

  // Where a read's value came from: the reader itself, a write (with the version it belongs to,
  // 0 if its transaction never committed it), or the row's initial value (version 0).
  struct Source {
    enum { own, write, initial, none } kind = none;
    std::uint32_t op = kNone;
    std::uint32_t version = 0;
  };

  Source resolve(std::uint32_t txn, std::uint32_t row, std::uint32_t value, std::uint64_t event) {
    if (auto own = current_write(txn, row); own != kNone && d_.ops[own].value == value)
      return {Source::own, own, 0};
    if (auto it = latest_with_value_.find(pair_key(row, value)); it != latest_with_value_.end()) {
      constexpr std::size_t kLookBack = 64;  // a repeated value: the nearest writes decide
      std::size_t tried = 0;
      for (auto w = it->second; w != kNone && tried < kLookBack; w = previous_with_value_[w], ++tried) {
        const auto& op = d_.ops[w];
        if (op.txn == txn || !committed(op.txn) || d_.txns[op.txn].end_event > event || !final_[w]) continue;
        return {Source::write, w, version_of_op_[w]};
      }
      for (auto w = it->second; w != kNone; w = previous_with_value_[w])
        if (d_.ops[w].txn != txn) return {Source::write, w, version_of(w)};
    }
    if (initial_[row] == kUnset) initial_[row] = value;
    if (initial_[row] == value) return {Source::initial, kNone, 0};
    return {};
  }

  void add_edge(std::uint32_t from, std::uint32_t to, Kind kind, std::uint32_t from_op, std::uint32_t to_op,
                std::uint32_t row) {
    if (from == to) return;
    for (auto e : out_[from])  // out-degrees are small: a few edges per operation
      if (edges_[e].to == to && edges_[e].kind == kind) return;
    out_[from].push_back(static_cast<std::uint32_t>(edges_.size()));
    edges_.push_back({from, to, kind, from_op, to_op, row});
  }

  // A committed reader's item read: G1a/G1b, a wr edge from its writer, and (`anti`) an rw edge to
  // the writer of the next version. Returns the version it saw, or kNone for its own write or none.
  std::uint32_t item_read(std::uint32_t op_index, std::uint32_t row, std::uint32_t value,
                          HistoryReport& report, bool anti = true) {
    const auto& op = d_.ops[op_index];
    auto src = resolve(op.txn, row, value, op.event);
    if (src.kind == Source::own) return kNone;
    if (src.kind == Source::none) {
      report.problems.push_back(d_.txns[op.txn].name + " " + d_.op_text(op_index) +
                                ", a value no write and no initial value of the row explains");
      return kNone;
    }
    if (src.kind == Source::write) {
      const auto& w = d_.ops[src.op];
      if (!committed(w.txn)) {
        g1(report, "G1a", op_index, src.op,
           "read a write of " + d_.txns[w.txn].name + ", which " +
               (d_.txns[w.txn].state == Data::State::aborted ? "aborted" : "never committed"));
        return kNone;
      }
      if (auto own = current_write(op.txn, row); own != kNone && own < src.op)
        g1(report, "G0", op_index, src.op,
           "had written the row, " + d_.txns[w.txn].name + " overwrote that uncommitted write (" +
               d_.op_text(own) + "), and it read the other value instead of its own");
      if (!final_[src.op])
        g1(report, "G1b", op_index, src.op,
           "read a value " + d_.txns[w.txn].name + " overwrote before it committed");
      add_edge(w.txn, op.txn, Kind::wr, src.op, op_index, row);
    }
    const auto& vs = versions_[row];
    if (anti && src.version < vs.size())
      add_edge(op.txn, d_.ops[vs[src.version]].txn, Kind::rw, op_index, vs[src.version], row);
    return src.version;
  }

  void g1(HistoryReport& report, const char* name, std::uint32_t read_op, std::uint32_t write_op,
          std::string what) {
    const auto& reader = d_.txns[d_.ops[read_op].txn].name;
    const auto& writer = d_.txns[d_.ops[write_op].txn].name;
    if (!g1_seen_.insert(name + reader + '\x1f' + writer).second) return;
    Anomaly a;
    a.name = name;
    a.description = reader + " " + what + ": " + reader + " " + d_.op_text(read_op) + "; " + writer + " " +
                    d_.op_text(write_op);
    a.transactions = {reader, writer};
    report.anomalies.push_back(std::move(a));
  }

  bool matches(const Data::Where& w, std::uint32_t row, std::uint32_t value) const {
    return value != kNone && value != kUnset && w.matches(d_.rows[row].key, d_.values.text[value]);
  }

  std::uint32_t version_value(std::uint32_t row, std::uint32_t version) const {
    return version == 0 ? initial_[row] : d_.ops[versions_[row][version - 1]].value;
  }

  void predicate_read(std::uint32_t op_index, HistoryReport& report) {
    const auto& op = d_.ops[op_index];
    const auto& w = d_.wheres[op.where];
    std::unordered_map<std::uint32_t, std::uint32_t> returned;
    for (auto [row, value] : w.rows) returned.emplace(row, value);
    for (auto row : d_.table_rows[w.table]) {
      std::uint32_t seen;
      if (auto it = returned.find(row); it != returned.end()) {
        // A returned row depends on its writer (wr); what overwrites it counts only if it changes
        // the match (prw below), as Adya defines predicate anti-dependencies.
        seen = item_read(op_index, row, it->second, report, false);
        if (seen == kNone) continue;
      } else {
        if (current_write(op.txn, row) != kNone) continue;
        seen = 0;
        const auto& vs = versions_[row];
        for (auto k = vs.size(); k > 0; --k) {
          const auto& v = d_.ops[vs[k - 1]];
          if (d_.txns[v.txn].end_event < op.event && !matches(w, row, v.value)) {
            seen = static_cast<std::uint32_t>(k);
            break;
          }
        }
      }
      const auto& vs = versions_[row];
      for (auto k = seen + 1; k <= vs.size(); ++k) {
        const auto& v = d_.ops[vs[k - 1]];
        if (v.txn != op.txn && matches(w, row, v.value) != matches(w, row, version_value(row, k - 1))) {
          add_edge(op.txn, v.txn, Kind::prw, op_index, vs[k - 1], row);
          break;
        }
      }
    }
  }

  void resolve_reads(HistoryReport& report) {
    previous_with_value_.assign(d_.ops.size(), kNone);
    latest_with_value_.reserve(d_.ops.size() / 2);
    for (std::uint32_t i = 0; i < d_.ops.size(); ++i) {
      const auto& op = d_.ops[i];
      switch (op.kind) {
        case Data::OpKind::write: {
          written(op.txn, op.row)->current = i;
          auto [it, added] = latest_with_value_.try_emplace(pair_key(op.row, op.value), i);
          previous_with_value_[i] = added ? kNone : it->second;
          it->second = i;
          break;
        }
        case Data::OpKind::read:
          if (committed(op.txn)) item_read(i, op.row, op.value, report);
          break;
        case Data::OpKind::where:
          if (committed(op.txn)) predicate_read(i, report);
          break;
      }
    }
  }

  void add_ww_edges() {
    for (const auto& vs : versions_)
      for (std::size_t k = 1; k < vs.size(); ++k)
        add_edge(d_.ops[vs[k - 1]].txn, d_.ops[vs[k]].txn, Kind::ww, vs[k - 1], vs[k], d_.ops[vs[k]].row);
  }

  // Tarjan's algorithm, iterative (a history may be 10^5 transactions deep), over `nodes` and the
  // edges of `kinds` that stay inside component `within` (kNone: anywhere). Writes each node's
  // component to comp; returns the components' members, each sorted.
  std::vector<std::vector<std::uint32_t>> tarjan(const std::vector<std::uint32_t>& nodes, unsigned kinds,
                                                 std::uint32_t within, std::vector<std::uint32_t>& comp) {
    std::vector<std::vector<std::uint32_t>> members;
    for (auto v : nodes) index_[v] = kNone, edge_pos_[v] = 0;
    auto allowed = [&](const Edge& e) {
      return (kinds & bit(e.kind)) && (within == kNone || component_[e.to] == within);
    };
    std::vector<std::uint32_t> stack, call;
    std::uint32_t next = 0;
    for (auto root : nodes) {
      if (index_[root] != kNone) continue;
      call.assign(1, root);
      index_[root] = low_[root] = next++;
      stack.push_back(root);
      on_stack_[root] = true;
      while (!call.empty()) {
        auto v = call.back();
        if (edge_pos_[v] < out_[v].size()) {
          const auto& e = edges_[out_[v][edge_pos_[v]++]];
          if (!allowed(e)) continue;
          if (index_[e.to] == kNone) {
            index_[e.to] = low_[e.to] = next++;
            stack.push_back(e.to);
            on_stack_[e.to] = true;
            call.push_back(e.to);
          } else if (on_stack_[e.to]) {
            low_[v] = std::min(low_[v], index_[e.to]);
          }
          continue;
        }
        call.pop_back();
        if (!call.empty()) low_[call.back()] = std::min(low_[call.back()], low_[v]);
        if (low_[v] != index_[v]) continue;
        auto c = static_cast<std::uint32_t>(members.size());
        members.emplace_back();
        std::uint32_t w;
        do {
          w = stack.back();
          stack.pop_back();
          on_stack_[w] = false;
          comp[w] = c;
          members[c].push_back(w);
        } while (w != v);
        std::sort(members[c].begin(), members[c].end());
      }
    }
    return members;
  }

  void components() {
    auto n = static_cast<std::uint32_t>(d_.txns.size());
    index_.assign(n, kNone);
    low_.assign(n, 0);
    edge_pos_.assign(n, 0);
    on_stack_.assign(n, false);
    component_.assign(n, kNone);
    sub_.assign(n, kNone);
    seen_.assign(n, 0);
    parent_.assign(n, kNone);
    std::vector<std::uint32_t> nodes;
    for (std::uint32_t t = 0; t < n; ++t)
      if (committed(t)) nodes.push_back(t);
    members_ = tarjan(nodes, ~0u, kNone, component_);
  }

  // The shortest path from `from` to `to` over edges of `kinds` inside component c, as edge ids.
  std::vector<std::uint32_t> path(std::uint32_t from, std::uint32_t to, unsigned kinds, std::uint32_t c,
                                  std::size_t& work) {
    ++stamp_;
    std::deque<std::uint32_t> queue{from};
    seen_[from] = stamp_;
    while (!queue.empty()) {
      auto v = queue.front();
      queue.pop_front();
      for (auto e : out_[v]) {
        ++work;
        const auto& edge = edges_[e];
        if (!(kinds & bit(edge.kind)) || component_[edge.to] != c || seen_[edge.to] == stamp_) continue;
        seen_[edge.to] = stamp_;
        parent_[edge.to] = e;
        if (edge.to == to) {
          std::vector<std::uint32_t> p;
          for (auto x = to; x != from; x = edges_[parent_[x]].from) p.push_back(parent_[x]);
          std::reverse(p.begin(), p.end());
          return p;
        }
        queue.push_back(edge.to);
      }
    }
    return {};
  }

  // The shortest cycle in component c that starts with an edge of `first` and returns over
  // `rest`, tried edge by edge within a work budget; empty when none was found within it. Where
  // `first` is part of `rest`, only edges inside one component of `rest` are tried: each of those
  // closes a cycle.
  std::vector<std::uint32_t> cycle(std::uint32_t c, unsigned first, unsigned rest) {
    bool closed = (first & ~rest) == 0;
    if (closed) tarjan(members_[c], rest, c, sub_);
    std::vector<std::uint32_t> best;
    std::size_t edges_inside = 0;
    for (auto v : members_[c]) edges_inside += out_[v].size();
    std::size_t work = 0;
    const std::size_t budget = 8 * edges_inside + 4096;
    for (auto v : members_[c]) {
      for (auto e : out_[v]) {
        const auto& edge = edges_[e];
        if (!(first & bit(edge.kind)) || component_[edge.to] != c) continue;
        if (closed && sub_[edge.to] != sub_[edge.from]) continue;
        if (work > budget) return best;
        auto back = path(edge.to, edge.from, rest, c, work);
        if (back.empty()) continue;
        back.insert(back.begin(), e);
        if (best.empty() || back.size() < best.size()) best = std::move(back);
        if (best.size() == 2) return best;
      }
    }
    return best;
  }

  std::string name_of(const std::vector<std::uint32_t>& cyc) const {
    std::size_t anti = 0, predicate = 0, wr = 0;
    for (auto e : cyc) {
      auto k = edges_[e].kind;
      anti += k == Kind::rw || k == Kind::prw;
      predicate += k == Kind::prw;
      wr += k == Kind::wr;
    }
    if (anti == 0) return wr == 0 ? "G0" : "G1c";
    if (anti == 1) {
      if (predicate == 1) return "PMP";
      if (cyc.size() == 2) {
        // T read x and U wrote x's next version (rw), and T's own write of x came right after U's (ww).
        const auto& a = edges_[cyc[0]].kind == Kind::rw ? edges_[cyc[0]] : edges_[cyc[1]];
        const auto& b = edges_[cyc[0]].kind == Kind::rw ? edges_[cyc[1]] : edges_[cyc[0]];
        if (b.kind == Kind::ww && a.row == b.row) return "P4";
        // R read U's write (wr) and afterwards, in another statement, a version older than U's of
        // another row U wrote (rw): U vanished from R's view after R had observed it (Hermitage's
        // OTV). One statement that sees part of U's writes is a torn read, named G-single whatever
        // order its rows came in. (Statement 0 is "none given": each such read counts as its own.)
        const auto seen = d_.ops[b.to_op].statement, missed = d_.ops[a.from_op].statement;
        if (b.kind == Kind::wr && b.to_op < a.from_op && (seen != missed || seen == 0)) return "OTV";
      }
      return "G-single";
    }
    return predicate == 0 ? "G2-item" : "G2";
  }

  Anomaly classify(std::uint32_t c) {
    constexpr unsigned kAnti = bit(Kind::rw) | bit(Kind::prw);
    constexpr unsigned kAll = kItemDeps | kAnti;
    std::vector<std::uint32_t> cyc = cycle(c, bit(Kind::ww), bit(Kind::ww));
    if (cyc.empty()) cyc = cycle(c, bit(Kind::wr), kItemDeps);
    if (cyc.empty()) cyc = cycle(c, kAnti, kItemDeps);
    if (cyc.empty()) cyc = cycle(c, bit(Kind::rw), kItemDeps | bit(Kind::rw));
    if (cyc.empty()) cyc = cycle(c, bit(Kind::prw), kAll);
    if (cyc.empty()) cyc = cycle(c, kAll, kAll);  // budgets ran out: any cycle is a witness
    Anomaly a;
    a.name = name_of(cyc);
    // The cycle starts with its class's edge; show it from its earliest transaction instead.
    auto first = std::min_element(cyc.begin(), cyc.end(),
                                  [&](auto x, auto y) { return edges_[x].from < edges_[y].from; });
    std::rotate(cyc.begin(), first, cyc.end());
    std::string ring;
    for (auto e : cyc) {
      const auto& edge = edges_[e];
      a.transactions.push_back(d_.txns[edge.from].name);
      ring += d_.txns[edge.from].name + " -" + std::string(to_string(edge.kind)) + "-> ";
      HistoryEdge h;
      h.kind = edge.kind;
      h.from = d_.txns[edge.from].name;
      h.to = d_.txns[edge.to].name;
      h.row = d_.row_text(edge.row);
      h.from_op = d_.op_text(edge.from_op);
      h.to_op = d_.op_text(edge.to_op);
      a.cycle.push_back(std::move(h));
    }
    ring += a.transactions.front();
    a.description = "a cycle of " + std::to_string(cyc.size()) + " dependencies among " +
                    std::to_string(members_[c].size()) + " transactions: " + ring;
    return a;
  }

  const Data& d_;
  std::vector<std::uint32_t> initial_;
  std::vector<Written> written_;
  std::vector<std::uint32_t> version_of_op_;  // per op: its version (1…n) if a committed last write, else 0
  std::vector<bool> final_;                   // per op: a write that is its transaction's last to the row
  std::unordered_map<std::uint64_t, std::uint32_t> latest_with_value_;  // (row, value) -> latest write so far
  std::vector<std::uint32_t> previous_with_value_;                      // per write op: the one before it
  std::vector<std::vector<std::uint32_t>> versions_;  // per row: write ops of its committed versions 1…n
  std::vector<Edge> edges_;
  std::vector<std::vector<std::uint32_t>> out_;
  std::unordered_set<std::string> g1_seen_;
  std::vector<std::uint32_t> component_, sub_, seen_, parent_, index_, low_, edge_pos_;
  std::vector<bool> on_stack_;
  std::vector<std::vector<std::uint32_t>> members_;
  std::uint32_t stamp_ = 0;
};

}  // namespace

HistoryReport check(const History& history) {
  const auto& d = history.data();
  std::lock_guard lock(d.mu);
  return Checker(d).run();
}

}  // namespace racelab
