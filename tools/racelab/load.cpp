// `racelab load`: the lab's k6 scripts as a built-in. Fires concurrent transfers at a running
// `racelab serve` for a while (--duration) or a number of transfers (--transfers, the first to
// come), then audits the books: no negative balance, money conserved, and every accepted transfer
// applied exactly once. Exit 1 when the books do not balance.
#include <httplib.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <iostream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>
#include <utility>

#include "progress.hpp"
#include "verbs.hpp"

namespace racelab::cli {
namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

struct LoadOptions {
  std::string url = "http://127.0.0.1:8000";
  int vus = 10;
  std::string duration = "5s";
  std::string scenario = "basic";
  bool reset = true;
  long transfers = 0;           // 0: no limit, --duration alone decides
  bool duration_given = false;  // with --transfers and no --duration, the count alone decides
};

std::optional<std::chrono::milliseconds> parse_duration(const std::string& s) {
  std::size_t used = 0;
  long n = 0;
  try {
    n = std::stol(s, &used);
  } catch (...) {
    return std::nullopt;
  }
  auto unit = s.substr(used);
  if (n <= 0) return std::nullopt;
  if (unit == "ms") return std::chrono::milliseconds(n);
  if (unit == "s") return std::chrono::milliseconds(n * 1000);
  if (unit == "m") return std::chrono::milliseconds(n * 60'000);
  return std::nullopt;
}

struct Tally {
  std::mutex mu;
  std::map<int, long> by_status;
  std::map<std::string, std::int64_t> applied;  // net effect of accepted transfers per account
  std::vector<double> latencies_ms;
  long errors = 0;
  std::map<std::string, long> error_kinds;  // httplib's name for each failure: Connection, Read, …
  void record(int status, double ms, const std::string& from, const std::string& to, std::int64_t amount) {
    std::lock_guard lk(mu);
    ++by_status[status];
    latencies_ms.push_back(ms);
    if (status == 200) {
      applied[from] -= amount;
      applied[to] += amount;
    }
  }
};

std::map<std::string, std::int64_t> balances(httplib::Client& c) {
  auto r = c.Get("/accounts");
  if (!r || r->status != 200) throw std::runtime_error("GET /accounts failed");
  std::map<std::string, std::int64_t> out;
  const json body = json::parse(r->body);
  for (const auto& a : body.at("accounts"))
    out[a.at("id").get<std::string>()] = a.at("balance").get<std::int64_t>();
  return out;
}

int load(const LoadOptions& o) {
  auto duration = parse_duration(o.duration);
  if (!duration) {
    std::cerr << "racelab load: --duration '" << o.duration << "' must look like 500ms, 5s or 1m\n";
    return kExitUsage;
  }
  if (o.scenario != "basic" && o.scenario != "barrier") {
    std::cerr << "racelab load: --scenario must be basic or barrier, got '" << o.scenario << "'\n";
    return kExitUsage;
  }
  httplib::Client c(o.url);
  c.set_read_timeout(30, 0);
  auto health = c.Get("/health");
  if (!health || health->status != 200) {
    std::cerr << "racelab load: no racelab serve answering at " << o.url << "\n";
    return kExitFailed;
  }
  if (o.reset && !c.Post("/reset")) {
    std::cerr << "racelab load: POST /reset failed\n";
    return kExitFailed;
  }
  const auto before = balances(c);
  if (before.size() < 2) {
    std::cerr << "racelab load: the service has fewer than two accounts\n";
    return kExitFailed;
  }
  std::vector<std::string> ids;
  std::int64_t total_before = 0;
  for (const auto& [id, b] : before) {
    ids.push_back(id);
    total_before += b;
  }
  if (o.transfers > 0 && !o.duration_given) duration = std::chrono::hours(24 * 365);
  std::cout << "racelab load: " << o.vus << " virtual users, ";
  if (o.transfers > 0) std::cout << o.transfers << " transfers" << (o.duration_given ? " or " : "");
  if (o.transfers == 0 || o.duration_given) std::cout << o.duration;
  std::cout << ", scenario " << o.scenario << " against " << o.url << std::endl;
  Tally tally;
  std::atomic<bool> stop{false};
  std::atomic<long> claimed{0};  // transfers started, against --transfers
  std::vector<std::thread> vus;
  const auto start = Clock::now();
  for (int v = 0; v < o.vus; ++v) {
    vus.emplace_back([&, v] {
      httplib::Client client(o.url);
      client.set_read_timeout(30, 0);
      // One connection per virtual user, as a browser or k6 keeps it; headers and body are two
      // writes, which Nagle's algorithm and a delayed ACK would hold for 40 ms.
      client.set_keep_alive(true);
      client.set_tcp_nodelay(true);
      std::mt19937 rng(static_cast<unsigned>(v) * 7919u + 1);
      while (!stop.load()) {
        if (o.transfers > 0 && claimed.fetch_add(1) >= o.transfers) break;
        std::string from, to;
        std::int64_t amount = 0;
        if (o.scenario == "barrier") {  // everyone spends from alice, as the lab's barrier-test.js
          from = "alice";
          to = v % 2 == 0 ? "bob" : "charlie";
          amount = 100;
        } else {
          from = ids[rng() % ids.size()];
          do to = ids[rng() % ids.size()];
          while (to == from);
          amount = 1 + static_cast<std::int64_t>(rng() % 100);
        }
        json body{{"from_account", from}, {"to_account", to}, {"amount", amount}};
        auto t0 = Clock::now();
        auto r = client.Post("/transfer", body.dump(), "application/json");
        double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
        if (!r) {
          std::lock_guard lk(tally.mu);
          ++tally.errors;
          ++tally.error_kinds[httplib::to_string(r.error())];
          continue;
        }
        tally.record(r->status, ms, from, to, amount);
      }
    });
  }
  ProgressBar bar("ms");
  const auto total_ms = std::chrono::duration_cast<std::chrono::milliseconds>(*duration).count();
  while (Clock::now() - start < *duration && (o.transfers == 0 || claimed.load() < o.transfers)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(o.transfers > 0 ? 20 : 200));
    if (!bar.shown()) continue;
    long n = 0;
    {
      std::lock_guard lk(tally.mu);
      for (const auto& [s, k] : tally.by_status) n += k;
      n += tally.errors;
    }
    if (o.transfers > 0 && !o.duration_given) {
      bar.update(n, o.transfers);
      continue;
    }
    const auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
    bar.update(static_cast<long>(elapsed), static_cast<long>(total_ms),
               ", " + std::to_string(n) + " requests");
  }
  stop = true;
  for (auto& t : vus) t.join();
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  bar.clear();

  // The audit.
  const auto after = balances(c);
  std::int64_t total_after = 0;
  std::vector<std::string> problems;
  for (const auto& [id, b] : after) {
    total_after += b;
    if (b < 0) problems.push_back(id + " is overdrawn: " + std::to_string(b));
    auto expected = before.at(id) + tally.applied[id];
    if (b != expected)
      problems.push_back(id + " holds " + std::to_string(b) + " but the accepted transfers add up to " +
                         std::to_string(expected));
  }
  if (total_after != total_before)
    problems.push_back("money not conserved: " + std::to_string(total_before) + " before, " +
                       std::to_string(total_after) + " after");
  long requests = 0;
  for (const auto& [s, k] : tally.by_status) requests += k;
  std::sort(tally.latencies_ms.begin(), tally.latencies_ms.end());
  auto pct = [&](double q) {
    return tally.latencies_ms.empty() ? 0.0
                                      : tally.latencies_ms[static_cast<std::size_t>(
                                            q * static_cast<double>(tally.latencies_ms.size() - 1))];
  };
  std::cout << "  " << requests << " requests in " << seconds << " s ("
            << static_cast<long>(static_cast<double>(requests) / seconds) << "/s), p50 " << pct(0.5)
            << " ms, p99 " << pct(0.99) << " ms; by status:";
  for (const auto& [s, k] : tally.by_status) std::cout << ' ' << s << "×" << k;
  if (tally.errors > 0) {
    std::cout << "; " << tally.errors << " connection errors (";
    const char* sep = "";
    for (const auto& [kind, k] : tally.error_kinds) std::cout << std::exchange(sep, ", ") << kind << " " << k;
    std::cout << ")";
  }
  std::cout << '\n';
  if (problems.empty()) {
    std::cout
        << "  books balance: no negative balance, money conserved, every accepted transfer applied once\n";
    return kExitOk;
  }
  std::cout << "  BOOKS DO NOT BALANCE:\n";
  for (const auto& p : problems) std::cout << "    " << p << '\n';
  return kExitFailed;
}

}  // namespace

void add_load(CLI::App& app, std::function<int()>& run) {
  auto o = std::make_shared<LoadOptions>();
  auto* cmd = app.add_subcommand(
      "load",
      "Fire concurrent transfers at a racelab serve, then audit the books (exit 1 if they do not balance)");
  cmd->add_option("--url", o->url, "The service")->capture_default_str();
  cmd->add_option("--vus", o->vus, "Concurrent virtual users")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  auto* duration =
      cmd->add_option("--duration", o->duration, "How long: 500ms, 5s, 1m")->capture_default_str();
  cmd->add_option("--transfers", o->transfers,
                  "Stop after this many transfers (with --duration too: whichever comes first)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--scenario", o->scenario,
                  "basic (random transfers) or barrier (everyone spends from alice)")
      ->capture_default_str();
  cmd->add_flag("!--no-reset", o->reset, "Do not POST /reset first");
  cmd->callback([&run, o, duration] {
    o->duration_given = duration->count() > 0;
    run = [o] { return load(*o); };
  });
}

}  // namespace racelab::cli
