// `racelab points [SCENARIO]`: every point compiled into racelab and its lab, with where it is.
#include <racelab/point.hpp>

#include <iomanip>
#include <iostream>
#include <map>

#include "verbs.hpp"

namespace racelab::cli {
namespace {

// Scenario name -> the point-name prefix its points share.
const std::map<std::string, std::string> kScenarios{
    {"bank", "transfer."}, {"counter", "counter."}, {"inventory", "inventory."}};

int list_points(const std::string& scenario, bool with_hits) {
  std::string prefix;
  if (!scenario.empty()) {
    auto it = kScenarios.find(scenario);
    if (it == kScenarios.end()) {
      std::cerr << "racelab points: unknown scenario '" << scenario
                << "' (known: bank, counter, inventory)\n";
      return kExitUsage;
    }
    prefix = it->second;
  }
  int shown = 0;
  for (const auto& p : racelab::points()) {
    if (p.name.rfind(prefix, 0) != 0) continue;
    std::string file = p.file;
    if (auto at = file.find("/lab/"); at != std::string::npos) file = file.substr(at + 1);
    std::cout << std::left << std::setw(38) << p.name << ' ' << file << ':' << p.line;
    if (p.sites > 1) std::cout << " (" << p.sites << " sites)";
    if (with_hits) std::cout << "  hits " << p.hits;
    std::cout << '\n';
    ++shown;
  }
  std::cerr << shown << " point(s)\n";
  return kExitOk;
}

}  // namespace

void add_points(CLI::App& app, std::function<int()>& run) {
  auto* cmd = app.add_subcommand("points", "List the points where races can be provoked (name, file:line)");
  auto scenario = std::make_shared<std::string>();
  cmd->add_option("scenario", *scenario, "Only this scenario's points: bank, counter or inventory");
  cmd->callback([&run, scenario] { run = [scenario] { return list_points(*scenario, false); }; });
}

}  // namespace racelab::cli
