// Transfers per second and retries per transfer for every strategy, on SQLite (a WAL file) and
// PostgreSQL (loopback), with 1, 4 and 16 threads, all on one hot pair of accounts or spread over
// 1,000; and simulated schedules per second for the bank on in-memory SQLite.
// Run: make bench   (or build/release/bench/db_benchmark --pg "CONNINFO" [--seconds S])
#include <racelab/racelab.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "bank/sql_bank.hpp"

namespace {

using Clock = std::chrono::steady_clock;

// The id reset_many gives account i. Appended, not "a" + std::to_string(i): GCC 12 -O3 reports a
// false -Wrestrict inside the inlined operator+.
std::string account(int i) {
  std::string id = "a";
  id += std::to_string(i);
  return id;
}

struct Cell {
  double transfers_per_second = 0;
  double retries_per_transfer = 0;
};

Cell measure(const std::string& url, lab::Strategy strategy, int threads, bool hot, double seconds) {
  constexpr int kAccounts = 1000;
  {
    auto db = lab::open_db(url);
    lab::bank::SqlBank::reset_many(*db, strategy, hot ? 2 : kAccounts, 1'000'000'000);
  }
  std::vector<std::unique_ptr<lab::Db>> dbs;
  for (int i = 0; i < threads; ++i) dbs.push_back(lab::open_db(url));
  std::atomic<bool> stop{false};
  std::atomic<long> done{0}, retries{0};
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      lab::bank::SqlBank bank(*dbs[static_cast<std::size_t>(t)]);
      std::mt19937 rng(static_cast<unsigned>(t));
      std::uniform_int_distribution<int> pick(0, kAccounts - 1);
      while (!stop.load(std::memory_order_relaxed)) {
        int from = hot ? 0 : pick(rng), to = hot ? 1 : pick(rng);
        if (from == to) continue;
        try {
          bank.transfer(account(from), account(to), 1, strategy);
          ++done;
        } catch (const lab::DbBusy&) {
          ++retries;  // nowait: come back later
        } catch (const lab::DbConflict&) {
          ++retries;
        }
      }
      retries += bank.retries();
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (auto& w : workers) w.join();
  Cell c;
  c.transfers_per_second = static_cast<double>(done.load()) / seconds;
  c.retries_per_transfer =
      done > 0 ? static_cast<double>(retries.load()) / static_cast<double>(done.load()) : 0;
  return c;
}

double simulated_schedules_per_second() {
  int runs = 0;
  auto start = Clock::now();
  while (Clock::now() - start < std::chrono::seconds(1)) {
    racelab::Simulation sim({.seed = static_cast<std::uint64_t>(runs)});
    auto url = "sqlite:memdb:bench_" + std::to_string(runs);
    auto setup = lab::open_db(url);
    lab::bank::SqlBank::reset(*setup, lab::Strategy::unsafe);
    auto a = lab::open_db(url), b = lab::open_db(url);
    sim.spawn("A", [&] { lab::bank::SqlBank(*a).transfer("alice", "bob", 800, lab::Strategy::unsafe); });
    sim.spawn("B", [&] { lab::bank::SqlBank(*b).transfer("alice", "charlie", 800, lab::Strategy::unsafe); });
    static_cast<void>(sim.run());
    ++runs;
  }
  return runs / std::chrono::duration<double>(Clock::now() - start).count();
}

}  // namespace

int main(int argc, char** argv) {
  std::string pg;
  double seconds = 0.5;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--pg") == 0 && i + 1 < argc)
      pg = argv[++i];
    else if (std::strcmp(argv[i], "--seconds") == 0 && i + 1 < argc)
      seconds = std::stod(argv[++i]);
    else {
      std::fprintf(stderr, "usage: db_benchmark [--pg CONNINFO] [--seconds S]\n");
      return 2;
    }
  }
  std::printf("simulated bank schedules on in-memory SQLite: %.0f per second\n\n",
              simulated_schedules_per_second());
  auto file = std::filesystem::temp_directory_path() / "racelab_db_benchmark.db";
  std::vector<std::pair<std::string, std::string>> backends{{"sqlite", "sqlite:" + file.string()}};
  if (!pg.empty())
    backends.emplace_back("postgres", pg);
  else
    std::printf("(no --pg given: PostgreSQL skipped)\n");
  std::printf("%-9s %-13s %-6s %28s %28s %28s\n", "backend", "strategy", "keys", "1 thread: tps (retries/tx)",
              "4 threads", "16 threads");
  for (const auto& [name, url] : backends) {
    for (auto strategy : lab::kAllStrategies) {
      for (bool hot : {true, false}) {
        for (auto suffix : {"", "-wal", "-shm"}) std::filesystem::remove(file.string() + suffix);
        std::printf("%-9s %-13s %-6s", name.c_str(), std::string(lab::to_string(strategy)).c_str(),
                    hot ? "hot" : "spread");
        for (int threads : {1, 4, 16}) {
          auto c = measure(url, strategy, threads, hot, seconds);
          char cell[64];
          std::snprintf(cell, sizeof cell, "%.0f (%.3f)", c.transfers_per_second, c.retries_per_transfer);
          std::printf(" %28s", cell);
          std::fflush(stdout);
        }
        std::printf("\n");
      }
    }
  }
}
