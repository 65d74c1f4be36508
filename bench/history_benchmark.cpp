// How long check() takes on long histories, and whether it grows linearly with their length.
//
//   build/release/bench/history_benchmark [--reps 5]
//
// Histories of 12,500 … 200,000 transfers between 10,000 accounts, four transactions open at a
// time, each reading two balances and writing both. A store with no isolation executes them, so
// about one transfer in a few hundred loses an update or reads skewed: the checker has real cycles
// to find, not an empty graph. Prints, per length, the median time to record and to check, the
// nanoseconds per transaction, and the anomalies found.
#include <racelab/history.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

namespace {

struct Transfer {
  racelab::History::Txn txn;
  int from, to, step;
  long long amount;
};

racelab::History make_history(int transfers, std::uint64_t seed) {
  constexpr int kAccounts = 10000, kOpen = 4;
  std::mt19937_64 rng(seed);
  racelab::History h;
  std::vector<std::string> value(kAccounts);
  for (int a = 0; a < kAccounts; ++a) {
    value[a] = "1000#0";
    h.initial("accounts", std::to_string(a), value[a]);
  }
  std::vector<Transfer> open;
  int started = 0, version = 0;
  while (started < transfers || !open.empty()) {
    while (started < transfers && open.size() < kOpen) {
      int from = static_cast<int>(rng() % kAccounts), to = static_cast<int>(rng() % (kAccounts - 1));
      if (to >= from) ++to;
      // A few hot accounts make conflicts happen.
      if (rng() % 8 == 0) from = static_cast<int>(rng() % 16);
      open.push_back({h.begin(), from, to, 0, static_cast<long long>(1 + rng() % 10)});
      ++started;
    }
    auto pick = rng() % open.size();
    auto& t = open[pick];
    auto account = [&](int a) { return std::to_string(a); };
    switch (t.step++) {
      case 0: h.read(t.txn, "accounts", account(t.from), value[t.from]); break;
      case 1: h.read(t.txn, "accounts", account(t.to), value[t.to]); break;
      case 2:
        value[t.from] = std::to_string(1000 - t.amount) + "#" + std::to_string(++version);
        h.write(t.txn, "accounts", account(t.from), value[t.from]);
        break;
      case 3:
        value[t.to] = std::to_string(1000 + t.amount) + "#" + std::to_string(++version);
        h.write(t.txn, "accounts", account(t.to), value[t.to]);
        break;
      default: h.commit(t.txn); open.erase(open.begin() + static_cast<long>(pick));
    }
  }
  return h;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  int reps = 5;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--reps") == 0 && i + 1 < argc) {
      reps = std::max(1, std::atoi(argv[++i]));
    } else {
      std::fprintf(stderr, "usage: history_benchmark [--reps N]\n");
      return 2;
    }
  }
  using clock = std::chrono::steady_clock;
  std::printf("%12s %12s %12s %14s %10s %10s\n", "transactions", "record_ms", "check_ms", "check_ns_per_tx",
              "edges", "anomalies");
  for (int n : {12500, 25000, 50000, 100000, 200000}) {
    std::vector<double> record, checking;
    racelab::HistoryReport report;
    for (int r = 0; r < reps; ++r) {
      auto t0 = clock::now();
      auto h = make_history(n, 20261203);
      auto t1 = clock::now();
      report = racelab::check(h);
      auto t2 = clock::now();
      record.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
      checking.push_back(std::chrono::duration<double, std::milli>(t2 - t1).count());
    }
    std::printf("%12d %12.1f %12.1f %14.0f %10zu %10zu\n", n, median(record), median(checking),
                median(checking) * 1e6 / n, report.edges, report.anomalies.size());
  }
}
