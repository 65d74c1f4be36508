// `racelab isolation --db URL [--json]`: the isolation matrix out of search. Every shipped anomaly
// case (lab/sqlcase/cases) under every isolation level the backend has, each explored completely:
// `prevented` (no interleaving shows it) or `occurs` (with the witness). Exit 0 when the matrix
// was made, 2 when it could not be (a database that cannot be opened).
#include <algorithm>
#include <chrono>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "sqlcase/cases.hpp"
#include "sqlcase/explore.hpp"
#include "verbs.hpp"

namespace racelab::cli {
namespace {

struct IsolationOptions {
  std::string db = "sqlite";
  std::string schema = "racelab_sql";
  std::vector<std::string> levels;
  std::vector<std::string> settings;
  std::vector<std::string> anomalies;
  int runs = 100'000;
  bool json = false;
  bool history = false;  // name each witness's anomaly from its history too
  std::string print_case;
};

std::vector<std::string> backend_levels(const std::string& db) {
  if (db == "sqlite" || db.rfind("sqlite:", 0) == 0)
    return {"deferred wal", "immediate wal", "deferred rollback", "immediate rollback"};
  if (db.rfind("mariadb://", 0) == 0)
    return {"read uncommitted", "read committed", "repeatable read", "serializable"};
  return {"read committed", "repeatable read", "serializable"};
}

struct Cell {
  std::string anomaly;
  std::string level;
  std::string result;  // prevented | occurs | incomplete | unsettled (a run replayed differently)
  int schedules = 0;
  std::string witness;  // the failing schedule
  std::string timeline;
  std::string file;
  std::optional<racelab::HistoryReport> history;  // the witness's, with --history
};

int isolation(const IsolationOptions& o) {
  if (!o.print_case.empty()) {
    for (const auto& builtin : lab::sqlcase::builtin_cases())
      if (o.print_case == builtin.file) {
        std::cout << builtin.text;
        return kExitOk;
      }
    std::cerr << "racelab isolation: no shipped case '" << o.print_case << "'; they are:";
    for (const auto& builtin : lab::sqlcase::builtin_cases()) std::cerr << ' ' << builtin.file;
    std::cerr << '\n';
    return kExitUsage;
  }
  const auto levels = o.levels.empty() ? backend_levels(o.db) : o.levels;
  std::vector<std::pair<std::string, lab::sqlcase::Case>> cases;  // by anomaly
  for (const auto& builtin : lab::sqlcase::builtin_cases()) {
    auto c = lab::sqlcase::parse(builtin.text, builtin.file);
    if (!o.anomalies.empty() &&
        std::find(o.anomalies.begin(), o.anomalies.end(), c.anomaly) == o.anomalies.end())
      continue;
    cases.emplace_back(builtin.file, std::move(c));
  }
  // In the order of Adya's classes, weakest first, as the tables list them.
  static const std::vector<std::string> kOrder = {"G0",  "G1a", "G1b",      "G1c",     "OTV",
                                                  "PMP", "P4",  "G-single", "G2-item", "G2"};
  auto rank = [](const std::string& a) {
    return std::find(kOrder.begin(), kOrder.end(), a) - kOrder.begin();
  };
  std::stable_sort(cases.begin(), cases.end(), [&](const auto& x, const auto& y) {
    return rank(x.second.anomaly) < rank(y.second.anomaly);
  });
  // Every --anomaly must name a shipped case: a typo is said, never dropped from the matrix.
  for (const auto& a : o.anomalies) {
    if (std::any_of(cases.begin(), cases.end(), [&](const auto& c) { return c.second.anomaly == a; }))
      continue;
    std::cerr << "racelab isolation: no shipped case is about '" << a << "'; they are:";
    for (const auto& name : kOrder) std::cerr << ' ' << name;
    std::cerr << '\n';
    return kExitUsage;
  }
  std::string backend;
  std::vector<Cell> cells;
  const auto started = std::chrono::steady_clock::now();
  std::size_t done = 0;
  for (const auto& level : levels) {
    for (const auto& [file, c] : cases) {
      lab::sqlcase::Result r;
      try {
        r = lab::sqlcase::explore(c, {.db = o.db,
                                      .level = level,
                                      .settings = o.settings,
                                      .runs = o.runs,
                                      .schema = o.schema,
                                      .history = o.history ? lab::sqlcase::Options::History::describe
                                                           : lab::sqlcase::Options::History::off});
      } catch (const std::exception& e) {
        std::cerr << "racelab isolation: " << e.what() << '\n';
        return kExitUsage;
      }
      backend = r.backend;
      Cell cell{c.anomaly, r.level, "prevented", r.report.runs(), {}, {}, file, std::nullopt};
      if (r.report.failed() && (r.report.outcome().diverged() || r.report.nondeterministic())) {
        // A run that replayed differently is no witness: the server, not the schedule, decided.
        // (A failure whose own replay differed keeps its kind, and says so in its notes.)
        cell.result = "unsettled";
        std::string why = r.report.outcome().diverged() ? r.report.outcome().message() : std::string();
        for (const auto& note : r.report.notes())
          if (why.empty() && note.starts_with("non-deterministic")) why = note;
        std::cerr << "racelab isolation: " << file << " at " << r.level
                  << " did not replay as it ran, so the cell is left unsettled: " << why << '\n';
      } else if (r.report.failed()) {
        cell.result = "occurs";
        cell.witness = r.report.schedule();
        cell.timeline = lab::sqlcase::timeline(c, r.witness);
        cell.history = r.history;
      } else if (!r.report.complete()) {
        cell.result = "incomplete";
      }
      ++done;
      const auto seconds =
          std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - started)
              .count();
      std::cerr << "[" << done << "/" << levels.size() * cases.size() << ", " << seconds << " s] "
                << r.backend << " " << cell.level << " " << cell.anomaly << ": " << cell.result << " ("
                << cell.schedules << " schedules)\n";
      if (o.json) {
        nlohmann::json line = {{"backend", r.backend},   {"level", cell.level},
                               {"settings", o.settings}, {"anomaly", cell.anomaly},
                               {"result", cell.result},  {"schedules", cell.schedules},
                               {"case", cell.file}};
        line["witness"] = cell.witness.empty() ? nlohmann::json(nullptr) : nlohmann::json(cell.witness);
        if (o.history) {  // what the checker calls the witness, by its reads and writes
          nlohmann::json names = nlohmann::json::array();
          if (cell.history)
            for (const auto& a : cell.history->anomalies) names.push_back(a.name);
          line["history"] = cell.witness.empty() ? nlohmann::json(nullptr) : names;
        }
        std::cout << line.dump() << std::endl;
      }
      cells.push_back(std::move(cell));
    }
  }
  if (o.json) return kExitOk;
  // The table: one row per anomaly, one column per level.
  std::map<std::pair<std::string, std::string>, const Cell*> at;
  std::vector<std::string> applied;
  for (const auto& cell : cells) {
    at[{cell.anomaly, cell.level}] = &cell;
    if (std::find(applied.begin(), applied.end(), cell.level) == applied.end()) applied.push_back(cell.level);
  }
  constexpr std::size_t kFirst = 10, kColumn = 20;
  auto pad = [](std::string s, std::size_t w) {
    s.resize(std::max(s.size() + 1, w), ' ');
    return s;
  };
  const bool all_explored = std::none_of(cells.begin(), cells.end(), [](const Cell& cell) {
    return cell.result == "incomplete" || cell.result == "unsettled";
  });
  std::string settings;
  for (const auto& s : o.settings) settings += (settings.empty() ? " with " : ", ") + s;
  std::cout << "isolation on " << backend << settings
            << (all_explored ? " (every interleaving of each case explored)"
                             : " (some cells incomplete: raise --runs; or unsettled: see the messages above)")
            << "\n\n";
  std::string header = pad("anomaly", kFirst);
  for (const auto& level : applied) header += pad(level, kColumn);
  while (!header.empty() && header.back() == ' ') header.pop_back();
  std::cout << header << '\n';
  for (const auto& [file, c] : cases) {
    std::string row = pad(c.anomaly, kFirst);
    for (const auto& level : applied) {
      const Cell* cell = at[{c.anomaly, level}];
      row += pad(cell->result + " (" + std::to_string(cell->schedules) + ")", kColumn);
    }
    while (!row.empty() && row.back() == ' ') row.pop_back();
    std::cout << row << '\n';
  }
  const bool any =
      std::any_of(cells.begin(), cells.end(), [](const Cell& cell) { return cell.result == "occurs"; });
  std::cout << "\n(n): interleavings explored, up to the first that shows the anomaly."
            << (any ? " Witnesses:" : "") << '\n';
  for (const auto& cell : cells) {
    if (cell.result != "occurs") continue;
    std::cout << "\n" << cell.anomaly << " at " << cell.level << " (" << cell.file << "):\n" << cell.timeline;
    if (cell.history) std::cout << "  " << cell.history->text() << '\n';
    std::cout << "  replay: racelab isolation --print-case " << cell.file << " > " << cell.file
              << " && racelab sql " << cell.file << " --db " << shell_quote(o.db) << " --level "
              << shell_quote(cell.level);
    for (const auto& s : o.settings) std::cout << " --set " << shell_quote(s);
    std::cout << (o.schema != "racelab_sql" ? " --schema " + o.schema : std::string()) << " --schedule "
              << shell_quote(cell.witness) << '\n';
  }
  return kExitOk;
}

}  // namespace

void add_isolation(CLI::App& app, std::function<int()>& run) {
  auto* cmd = app.add_subcommand("isolation",
                                 "The isolation matrix of a database, by search: each shipped anomaly case "
                                 "under each isolation level, every "
                                 "interleaving explored (docs/sql.md)");
  auto o = std::make_shared<IsolationOptions>();
  cmd->add_option(
         "--db", o->db,
         "sqlite (a scratch directory), sqlite:DIR, a PostgreSQL conninfo / postgresql://… URL, or a "
         "mariadb://user@host:port/database URL")
      ->capture_default_str();
  cmd->add_option("--level", o->levels,
                  "Only these levels (repeat the option); default: every level the backend has");
  cmd->add_option("--set", o->settings,
                  "NAME=VALUE for every session (repeat the option): PostgreSQL SET, MariaDB SET SESSION, "
                  "SQLite PRAGMA; e.g. --set innodb_snapshot_isolation=on");
  cmd->add_option("--anomaly", o->anomalies,
                  "Only these anomalies (G0, G1a, G1b, G1c, OTV, PMP, P4, G-single, "
                  "G2-item, G2; repeat the option)");
  cmd->add_option("--runs", o->runs, "At most this many interleavings per cell")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--schema", o->schema,
                  "PostgreSQL: the schema each interleaving makes afresh (it is dropped); MariaDB: the "
                  "database")
      ->capture_default_str();
  cmd->add_option("--print-case", o->print_case,
                  "Print a shipped case file (e.g. lost_update.sql), to run or edit with racelab sql");
  cmd->add_flag("--history", o->history,
                "Record each run's reads and writes and name each witness's anomaly by the history "
                "checker as well (JSON: history, the names it found); the cells are still decided by "
                "the cases' checks");
  cmd->add_flag(
      "--json", o->json,
      "One JSON object per line, per cell: backend, level, anomaly, result, schedules, witness, case");
  cmd->callback([&run, o] { run = [o] { return isolation(*o); }; });
}

}  // namespace racelab::cli
