// The history checker: every class built by hand is named, serial histories are clean, and on
// generated histories "no anomaly" agrees with a brute-force search for an equivalent serial order.
#include <racelab/history.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <numeric>
#include <random>
#include <set>

namespace {

using racelab::check;
using racelab::History;

std::vector<std::string> names(const racelab::HistoryReport& r) {
  std::vector<std::string> out;
  for (const auto& a : r.anomalies) out.push_back(a.name);
  return out;
}

using Names = std::vector<std::string>;

// Two increments in a row, the second reading the first's value: nothing to report.
TEST(History, SerialIncrementsAreClean) {
  History h;
  auto t1 = h.begin(), t2 = h.begin();
  h.read(t1, "counters", "1", "0");
  h.write(t1, "counters", "1", "1");
  h.commit(t1);
  h.read(t2, "counters", "1", "1");
  h.write(t2, "counters", "1", "2");
  h.commit(t2);
  auto r = check(h);
  EXPECT_TRUE(r.clean()) << r.text();
  EXPECT_EQ(r.committed, 2u);
  EXPECT_EQ(r.edges, 2u);  // wr and ww from T1 to T2
}

// Both read 0 and both write 1: T2's write overwrites T1's unseen; the cycle is T1 -rw-> T2 -ww-> T1.
TEST(History, LostUpdateIsP4) {
  History h;
  auto t1 = h.begin(), t2 = h.begin();
  h.read(t1, "counters", "1", "0", "SELECT n FROM counters");
  h.read(t2, "counters", "1", "0", "SELECT n FROM counters");
  h.write(t1, "counters", "1", "1", "UPDATE counters SET n = 1");
  h.commit(t1);
  h.write(t2, "counters", "1", "1", "UPDATE counters SET n = 1");
  h.commit(t2);
  auto r = check(h);
  ASSERT_EQ(names(r), Names{"P4"}) << r.text();
  const auto& a = r.anomalies[0];
  EXPECT_EQ(a.transactions, (Names{"T1", "T2"}));
  ASSERT_EQ(a.cycle.size(), 2u);
  EXPECT_EQ(a.cycle[0].kind, racelab::HistoryEdge::Kind::ww);
  EXPECT_EQ(a.cycle[1].kind, racelab::HistoryEdge::Kind::rw);
  EXPECT_NE(r.text().find("SELECT n FROM counters"), std::string::npos) << r.text();
  EXPECT_NE(r.text().find("lost update"), std::string::npos) << r.text();
}

// T1 and T2 overwrite each other's uncommitted rows in opposite orders: a cycle of ww edges.
TEST(History, InterleavedWritesAreG0) {
  History h;
  auto t1 = h.begin(), t2 = h.begin();
  h.write(t1, "t", "x", "1");
  h.write(t2, "t", "x", "2");
  h.write(t2, "t", "y", "2");
  h.write(t1, "t", "y", "1");
  h.commit(t1);
  h.commit(t2);
  auto r = check(h);
  EXPECT_EQ(names(r), Names{"G0"}) << r.text();
}

// T2 reads what T1 wrote, then T1 aborts.
TEST(History, ReadOfAnAbortedWriteIsG1a) {
  History h;
  auto t1 = h.begin(), t2 = h.begin();
  h.write(t1, "t", "x", "1");
  h.read(t2, "t", "x", "1");
  h.abort(t1);
  h.commit(t2);
  auto r = check(h);
  EXPECT_EQ(names(r), Names{"G1a"}) << r.text();
  // A transaction still running at the end counts as aborted.
  History open;
  auto w = open.begin(), reader = open.begin();
  open.write(w, "t", "x", "1");
  open.read(reader, "t", "x", "1");
  open.commit(reader);
  EXPECT_EQ(names(check(open)), Names{"G1a"});
  // An aborted reader of an aborted write is no anomaly: nothing it saw was kept.
  History both;
  auto a = both.begin(), b = both.begin();
  both.write(a, "t", "x", "1");
  both.read(b, "t", "x", "1");
  both.abort(a);
  both.abort(b);
  EXPECT_TRUE(check(both).clean());
}

// T2 reads T1's first value of x, which T1 replaces before it commits.
TEST(History, ReadOfAnOverwrittenValueIsG1b) {
  History h;
  auto t1 = h.begin(), t2 = h.begin();
  h.write(t1, "t", "x", "1");
  h.read(t2, "t", "x", "1");
  h.write(t1, "t", "x", "2");
  h.commit(t1);
  h.commit(t2);
  auto r = check(h);
  EXPECT_EQ(names(r), Names{"G1b"}) << r.text();
}

// Each reads the other's write: information flows in a circle (wr both ways).
TEST(History, MutualReadsAreG1c) {
  History h;
  auto t1 = h.begin(), t2 = h.begin();
  h.write(t1, "t", "x", "1");
  h.write(t2, "t", "y", "1");
  h.read(t1, "t", "y", "1");
  h.read(t2, "t", "x", "1");
  h.commit(t1);
  h.commit(t2);
  auto r = check(h);
  EXPECT_EQ(names(r), Names{"G1c"}) << r.text();
}

// T1 reads x before and y after T2's transfer: T1 -rw-> T2 (x), T2 -wr-> T1 (y).
TEST(History, ReadSkewIsGSingle) {
  History h;
  h.initial("accounts", "x", "50");
  h.initial("accounts", "y", "50");
  auto t1 = h.begin(), t2 = h.begin();
  h.read(t1, "accounts", "x", "50");
  h.read(t2, "accounts", "x", "50");
  h.read(t2, "accounts", "y", "50");
  h.write(t2, "accounts", "x", "10");
  h.write(t2, "accounts", "y", "90");
  h.commit(t2);
  h.read(t1, "accounts", "y", "90");
  h.commit(t1);
  auto r = check(h);
  ASSERT_EQ(names(r), Names{"G-single"}) << r.text();
  EXPECT_EQ(r.anomalies[0].cycle.size(), 2u);
}

// T3 sees T1's x and then T2's y, where T2 overwrote T1: an old version first, the newer
// transaction after, which is read skew (T3 -rw-> T2 over x, T2 -wr-> T3 over y).
TEST(History, AnOldVersionThenTheNewTransactionIsGSingle) {
  History h;
  auto t1 = h.begin(), t2 = h.begin(), t3 = h.begin();
  h.write(t1, "t", "x", "11");
  h.write(t1, "t", "y", "19");
  h.commit(t1);
  h.read(t3, "t", "x", "11");
  h.write(t2, "t", "x", "12");
  h.write(t2, "t", "y", "18");
  h.commit(t2);
  h.read(t3, "t", "y", "18");
  h.commit(t3);
  auto r = check(h);
  ASSERT_EQ(names(r), Names{"G-single"}) << r.text();
  EXPECT_EQ(r.anomalies[0].transactions.size(), 2u) << r.text();
}

// Hermitage's observed-transaction-vanishes: T3 sees T2's y and then T1's x, where T2 overwrote
// T1's x: T2 vanished from T3's view after T3 had seen it (T2 -wr-> T3 over y, T3 -rw-> T2 over x).
TEST(History, ObservedTransactionVanishes) {
  History h;
  auto t1 = h.begin(), t2 = h.begin(), t3 = h.begin();
  h.write(t1, "t", "x", "11");
  h.write(t1, "t", "y", "19");
  h.commit(t1);
  h.write(t2, "t", "x", "12");
  h.write(t2, "t", "y", "18");
  h.read(t3, "t", "y", "18");  // a dirty read: T2 has not committed
  h.read(t3, "t", "x", "11");
  h.commit(t2);
  h.commit(t3);
  auto r = check(h);
  ASSERT_EQ(names(r), Names{"OTV"}) << r.text();
  EXPECT_EQ(r.anomalies[0].transactions, (std::vector<std::string>{"T2", "T3"})) << r.text();
  EXPECT_EQ(racelab::anomaly_title("OTV"), "observed transaction vanishes");
}

// One statement that returns T2's y and T1's x is a torn read, not a vanishing: G-single.
TEST(History, OneStatementSeeingPartOfATransactionIsGSingle) {
  History h;
  auto t1 = h.begin(), t2 = h.begin(), t3 = h.begin();
  h.write(t1, "t", "x", "11");
  h.write(t1, "t", "y", "19");
  h.commit(t1);
  h.write(t2, "t", "x", "12");
  h.write(t2, "t", "y", "18");
  h.read(t3, "t", "y", "18", "SELECT * FROM t");
  h.read(t3, "t", "x", "11", "SELECT * FROM t");
  h.commit(t2);
  h.commit(t3);
  auto r = check(h);
  ASSERT_EQ(names(r), Names{"G-single"}) << r.text();
}

// Both doctors read both rows and each takes a different one off call: rw both ways.
TEST(History, WriteSkewIsG2Item) {
  History h;
  h.initial("doctors", "alice", "on");
  h.initial("doctors", "bob", "on");
  auto t1 = h.begin(), t2 = h.begin();
  for (auto t : {t1, t2}) {
    h.read(t, "doctors", "alice", "on");
    h.read(t, "doctors", "bob", "on");
  }
  h.write(t1, "doctors", "alice", "off");
  h.write(t2, "doctors", "bob", "off");
  h.commit(t1);
  h.commit(t2);
  auto r = check(h);
  EXPECT_EQ(names(r), Names{"G2-item"}) << r.text();
}

bool on_call(std::string_view, std::string_view value) { return value == "on"; }

// The same through a predicate (SELECT count(*) … WHERE on_call): the anti-dependencies are prw.
TEST(History, PredicateWriteSkewIsG2) {
  History h;
  h.initial("doctors", "alice", "on");
  h.initial("doctors", "bob", "on");
  auto t1 = h.begin(), t2 = h.begin();
  for (auto t : {t1, t2}) h.read_where(t, "doctors", "on_call", on_call, {{"alice", "on"}, {"bob", "on"}});
  h.write(t1, "doctors", "alice", "off");
  h.write(t2, "doctors", "bob", "off");
  h.commit(t1);
  h.commit(t2);
  auto r = check(h);
  EXPECT_EQ(names(r), Names{"G2"}) << r.text();
}

// An insert is a phantom for a predicate read that ran before it: two bookings of one room.
TEST(History, PhantomInsertsAreG2) {
  History h;
  auto t1 = h.begin(), t2 = h.begin();
  auto room1 = [](std::string_view key, std::string_view) { return key.starts_with("room1/"); };
  h.read_where(t1, "bookings", "room = 1", room1, {});
  h.read_where(t2, "bookings", "room = 1", room1, {});
  h.write(t1, "bookings", "room1/alice", "10:00");
  h.write(t2, "bookings", "room1/bob", "10:00");
  h.commit(t1);
  h.commit(t2);
  auto r = check(h);
  EXPECT_EQ(names(r), Names{"G2"}) << r.text();
  // Serially, the second booking sees the first: clean.
  History serial;
  auto s1 = serial.begin(), s2 = serial.begin();
  serial.read_where(s1, "bookings", "room = 1", room1, {});
  serial.write(s1, "bookings", "room1/alice", "10:00");
  serial.commit(s1);
  serial.read_where(s2, "bookings", "room = 1", room1, {{"room1/alice", "10:00"}});
  serial.commit(s2);
  EXPECT_TRUE(check(serial).clean()) << check(serial).text();
}

// T1's first predicate read misses T2's insert, its second sees it: one prw and one wr.
TEST(History, PredicateManyPrecedersIsPMP) {
  History h;
  auto t1 = h.begin(), t2 = h.begin();
  auto thirty = [](std::string_view, std::string_view v) { return v == "30"; };
  auto multiple_of_three = [](std::string_view, std::string_view v) {
    return std::stoi(std::string(v)) % 3 == 0;
  };
  h.read_where(t1, "t", "value = 30", thirty, {});
  h.write(t2, "t", "3", "30");
  h.commit(t2);
  h.read_where(t1, "t", "value % 3 = 0", multiple_of_three, {{"3", "30"}});
  h.commit(t1);
  auto r = check(h);
  EXPECT_EQ(names(r), Names{"PMP"}) << r.text();
}

// A value no write explains (the row's declared initial value is another) is a problem, not an edge.
TEST(History, UnexplainedReadsAreProblems) {
  History h;
  h.initial("t", "x", "0");
  auto t1 = h.begin();
  h.read(t1, "t", "x", "7");
  h.commit(t1);
  auto r = check(h);
  EXPECT_FALSE(r.clean());
  ASSERT_EQ(r.problems.size(), 1u);
  EXPECT_NE(r.problems[0].find("t/x = 7"), std::string::npos) << r.problems[0];
}

TEST(History, MisuseIsAnError) {
  History h;
  auto t = h.begin();
  h.commit(t);
  EXPECT_THROW(h.write(t, "t", "x", "1"), racelab::HistoryError);
  EXPECT_THROW(h.commit(t), racelab::HistoryError);
  EXPECT_THROW(h.read(99, "t", "x", "1"), racelab::HistoryError);
  auto u = h.begin();
  EXPECT_THROW(h.read_where(u, "t", "p", nullptr, {}), racelab::HistoryError);
}

// Two anomalies in unrelated rows are reported apart, in the order of their first transaction.
TEST(History, SeparateCyclesAreSeparateAnomalies) {
  History h;
  for (const char* row : {"a", "b"}) {
    auto t1 = h.begin(), t2 = h.begin();
    h.read(t1, "c", row, "0");
    h.read(t2, "c", row, "0");
    h.write(t1, "c", row, "1");
    h.write(t2, "c", row, "2");
    h.commit(t1);
    h.commit(t2);
  }
  auto r = check(h);
  ASSERT_EQ(names(r), (Names{"P4", "P4"})) << r.text();
  EXPECT_EQ(r.anomalies[0].transactions.front(), "T1");
  EXPECT_EQ(r.anomalies[1].transactions.front(), "T3");
}

// ---- Generated histories -------------------------------------------------------------------------

// A store with no isolation at all: a read sees the latest write of any transaction not aborted
// (so dirty and intermediate reads happen), writes land at once. Each write's value is unique.
struct Generated {
  struct Op {
    int txn;
    bool write;
    int key;
    std::string value;
  };
  int txns = 0;
  std::vector<Op> ops;                     // reads and writes in the order they happened
  std::vector<std::pair<int, bool>> ends;  // (txn, committed), in the order they ended
  History history;
};

Generated generate(std::mt19937_64& rng, int txns, int keys, int ops_max, bool serial) {
  Generated g;
  g.txns = txns;
  std::vector<std::vector<std::pair<bool, int>>> plan(txns);
  for (auto& p : plan) {
    auto n = 1 + rng() % ops_max;
    for (std::size_t i = 0; i < n; ++i) p.emplace_back(rng() % 2 == 0, static_cast<int>(rng() % keys));
  }
  std::vector<bool> aborted(txns, false);
  std::vector<std::vector<std::pair<int, std::string>>> writes(keys);  // per key: (txn, value)
  std::vector<History::Txn> ids;
  for (int t = 0; t < txns; ++t) ids.push_back(g.history.begin());
  for (int k = 0; k < keys; ++k) g.history.initial("t", std::to_string(k), "init" + std::to_string(k));
  std::vector<std::size_t> next(txns, 0);
  std::vector<int> live(txns);
  std::iota(live.begin(), live.end(), 0);
  int counter = 0;
  while (!live.empty()) {
    auto pick = serial ? 0 : rng() % live.size();
    int t = live[pick];
    if (next[t] == plan[t].size()) {
      bool commit = rng() % 5 != 0;
      aborted[t] = !commit;
      g.ends.emplace_back(t, commit);
      if (commit)
        g.history.commit(ids[t]);
      else
        g.history.abort(ids[t]);
      live.erase(live.begin() + static_cast<long>(pick));
      continue;
    }
    auto [write, key] = plan[t][next[t]++];
    auto k = std::to_string(key);
    if (write) {
      auto value = "v" + std::to_string(counter++);
      writes[key].emplace_back(t, value);
      g.history.write(ids[t], "t", k, value);
      g.ops.push_back({t, true, key, value});
    } else {
      std::string value = "init" + k;
      for (auto it = writes[key].rbegin(); it != writes[key].rend(); ++it)
        if (!aborted[it->first]) {
          value = it->second;
          break;
        }
      g.history.read(ids[t], "t", k, value);
      g.ops.push_back({t, false, key, value});
    }
  }
  return g;
}

// Is there an order of the committed transactions that, run one after another, gives every
// committed read its value and every row the same order of final writes?
bool serializable(const Generated& g, int keys) {
  std::vector<bool> committed(g.txns, false);
  for (auto [t, c] : g.ends) committed[t] = c;
  std::vector<int> order;
  for (int t = 0; t < g.txns; ++t)
    if (committed[t]) order.push_back(t);
  // The version order: committed transactions' last writes per key, in history order.
  std::map<std::pair<int, int>, std::size_t> last;
  for (std::size_t i = 0; i < g.ops.size(); ++i)
    if (g.ops[i].write) last[{g.ops[i].txn, g.ops[i].key}] = i;
  std::vector<std::vector<int>> version_order(keys);
  for (std::size_t i = 0; i < g.ops.size(); ++i) {
    const auto& op = g.ops[i];
    if (op.write && committed[op.txn] && last[{op.txn, op.key}] == i) version_order[op.key].push_back(op.txn);
  }
  do {
    std::vector<std::string> state(keys);
    for (int k = 0; k < keys; ++k) state[k] = "init" + std::to_string(k);
    std::vector<std::vector<int>> writers(keys);
    bool ok = true;
    for (int t : order) {
      for (const auto& op : g.ops) {
        if (op.txn != t) continue;
        if (op.write)
          state[op.key] = op.value;
        else if (state[op.key] != op.value)
          ok = false;
      }
      for (int k = 0; k < keys; ++k)
        if (last.count({t, k})) writers[k].push_back(t);
    }
    if (ok && writers == version_order) return true;
  } while (std::next_permutation(order.begin(), order.end()));
  return false;
}

// 4,000 generated histories of 2-4 transactions: the checker is clean exactly when a serial order
// explains the history. Both answers must occur often, or the property says nothing.
TEST(History, CleanExactlyWhenSerializable) {
  std::mt19937_64 rng(20261203);
  int clean = 0, anomalous = 0;
  for (int i = 0; i < 4000; ++i) {
    int txns = 2 + static_cast<int>(rng() % 3), keys = 1 + static_cast<int>(rng() % 3);
    auto g = generate(rng, txns, keys, 4, false);
    auto r = check(g.history);
    bool s = serializable(g, keys);
    ASSERT_EQ(r.clean(), s) << "history " << i << ":\n" << g.history.text() << r.text();
    ASSERT_TRUE(r.problems.empty()) << r.text();
    (s ? clean : anomalous)++;
  }
  EXPECT_GT(clean, 800);
  EXPECT_GT(anomalous, 800);
}

// Transactions run one at a time are clean however many there are.
TEST(History, SerialHistoriesAreClean) {
  std::mt19937_64 rng(7);
  for (int i = 0; i < 200; ++i) {
    auto g = generate(rng, 40, 5, 6, true);
    auto r = check(g.history);
    ASSERT_TRUE(r.clean()) << g.history.text() << r.text();
  }
}

// Every class the generator produces is one of the named ones, and each cycle is a real cycle:
// consecutive edges meet, and the last returns to the first.
TEST(History, CyclesAreClosedAndNamed) {
  std::mt19937_64 rng(11);
  std::set<std::string> seen;
  const std::set<std::string> known{"G0",  "G1a",      "G1b", "G1c",     "P4",
                                    "OTV", "G-single", "PMP", "G2-item", "G2"};
  for (int i = 0; i < 2000; ++i) {
    auto g = generate(rng, 2 + static_cast<int>(rng() % 4), 1 + static_cast<int>(rng() % 3), 4, false);
    for (const auto& a : check(g.history).anomalies) {
      ASSERT_TRUE(known.count(a.name)) << a.name;
      seen.insert(a.name);
      if (a.cycle.empty()) continue;
      for (std::size_t e = 0; e < a.cycle.size(); ++e)
        ASSERT_EQ(a.cycle[e].to, a.cycle[(e + 1) % a.cycle.size()].from) << a.text();
    }
  }
  for (const char* name : {"G0", "G1a", "G1b", "G1c", "P4", "G-single", "G2-item"})
    EXPECT_TRUE(seen.count(name)) << name;
}

}  // namespace
