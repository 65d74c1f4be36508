// `racelab stress`: real threads released at once on a lab scenario, with the window optionally
// forced by a barrier or widened by a delay; prints the stress report, exit 1 on a violation.
#include <racelab/hooks.hpp>
#include <racelab/stress.hpp>

#include <iostream>

#include "bank/bank.hpp"
#include "inventory/inventory.hpp"
#include "verbs.hpp"

namespace racelab::cli {
namespace {

struct StressCliOptions {
  std::string scenario;
  std::string strategy = "unsafe";
  int threads = 2;
  int iterations = 200;
  bool barrier = false;
  int delay_us = 0;
};

int stress_verb(const StressCliOptions& o) {
  auto strategy = lab::parse_strategy(o.strategy);
  if (!strategy || (*strategy != lab::Strategy::unsafe && *strategy != lab::Strategy::mutex)) {
    std::cerr << "racelab stress: --strategy must be unsafe or mutex for the in-memory scenarios, got '"
              << o.strategy << "'\n";
    return kExitUsage;
  }
  const char* window = o.scenario == "bank" ? "transfer.after_read" : "inventory.after_read";
  racelab::Hooks hooks;
  if (o.barrier) hooks.barrier(window, o.threads);
  if (o.delay_us > 0) hooks.delay(window, std::chrono::microseconds(o.delay_us));
  racelab::StressReport report;
  if (o.scenario == "bank") {
    // Every thread spends 800 from alice's 1000: at most one may succeed.
    lab::bank::MemoryLedger ledger;
    lab::bank::Bank bank(ledger);
    report = racelab::stress(
        racelab::StressOptions{.threads = o.threads, .iterations = o.iterations}, [&] { ledger.reset(); },
        [&](int i) { bank.transfer("alice", i % 2 == 0 ? "bob" : "charlie", 800, *strategy); },
        [&]() -> std::string {
          auto alice = ledger.balance("alice");
          return alice >= 0 ? "" : "alice overdrawn: " + std::to_string(alice);
        });
  } else if (o.scenario == "inventory") {
    report = lab::inventory::rush(*strategy, o.iterations, o.threads, o.threads - 1);
  } else {
    std::cerr << "racelab stress: unknown scenario '" << o.scenario << "' (bank, inventory)\n";
    return kExitUsage;
  }
  std::cout << o.scenario << " / " << o.strategy << (o.barrier ? ", barrier at " + std::string(window) : "")
            << (o.delay_us > 0 ? ", delay " + std::to_string(o.delay_us) + " us" : "") << "\n"
            << report << '\n';
  return report.ok() ? kExitOk : kExitFailed;
}

}  // namespace

void add_stress(CLI::App& app, std::function<int()>& run) {
  auto o = std::make_shared<StressCliOptions>();
  auto* cmd = app.add_subcommand(
      "stress", "Hammer a scenario with real threads released at once; exit 1 on a violation");
  cmd->add_option("scenario", o->scenario, "bank | inventory")->required();
  cmd->add_option("--strategy", o->strategy, "unsafe | mutex")->capture_default_str();
  cmd->add_option("--threads", o->threads, "Threads per iteration")
      ->check(CLI::Range(2, 64))
      ->capture_default_str();
  cmd->add_option("--iterations", o->iterations, "Iterations")
      ->check(CLI::Range(1, 1'000'000))
      ->capture_default_str();
  cmd->add_flag("--barrier", o->barrier, "Hold every thread at the race window until all have arrived");
  cmd->add_option("--delay-us", o->delay_us, "Sleep this long at the race window")
      ->check(CLI::Range(0, 10'000'000));
  cmd->callback([&run, o] { run = [o] { return stress_verb(*o); }; });
}

}  // namespace racelab::cli
