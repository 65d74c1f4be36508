// `racelab sql CASE --db URL [--level L]`: every interleaving of a case's SQL sessions on a real
// database (lab/sqlcase, docs/sql.md). Exit 0 when no interleaving breaks the check, 1 when one
// does (its timeline and replay command printed), 2 for a case or database that cannot be run.
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "progress.hpp"
#include "sqlcase/explore.hpp"
#include "verbs.hpp"

namespace racelab::cli {
namespace {

struct SqlOptions {
  std::string file;
  lab::sqlcase::Options run;
  bool json = false;
};

std::string replay_command(const SqlOptions& o, const lab::sqlcase::Result& r) {
  std::string settings;
  for (const auto& s : r.settings) settings += " --set " + shell_quote(s);
  return "racelab sql " + shell_quote(o.file) + " --db " + shell_quote(o.run.db) + " --level " +
         shell_quote(r.level) + settings +
         (o.run.schema != lab::sqlcase::Options{}.schema ? " --schema " + o.run.schema : std::string()) +
         (o.run.history != lab::sqlcase::Options::History::off ? " --history" : "") + " --schedule " +
         shell_quote(r.report.schedule());
}

void print_json(const SqlOptions& o, const lab::sqlcase::Case& c, const lab::sqlcase::Result& r) {
  nlohmann::json out = {{"case", o.file},
                        {"title", c.title},
                        {"backend", r.backend},
                        {"level", r.level},
                        {"settings", r.settings},
                        {"result", r.report.failed() ? "breaks" : "holds"},
                        {"schedules", r.report.runs()},
                        {"complete", r.report.complete()},
                        {"strategy", r.report.strategy()},
                        {"server_ordered", r.server_ordered}};
  if (o.run.history != lab::sqlcase::Options::History::off) {
    out["runs_left_out"] = r.runs_left_out;
    out["runs_unjudged"] = r.runs_unjudged;
  }
  if (r.report.failed()) {
    out["schedule"] = r.report.schedule();
    out["check_value"] = r.check_value;
    out["witness"] = nlohmann::json::array();
    for (const auto& s : r.witness)
      out["witness"].push_back(
          {{"session", s.session}, {"sql", s.sql}, {"result", s.result}, {"waited", s.waited}});
    out["replay"] = replay_command(o, r);
    if (r.history) {
      auto& h = out["history"] = {{"transactions", r.history->transactions},
                                  {"committed", r.history->committed},
                                  {"left_out", r.left_out},
                                  {"anomalies", nlohmann::json::array()}};
      for (const auto& a : r.history->anomalies) {
        nlohmann::json cycle = nlohmann::json::array();
        for (const auto& e : a.cycle) cycle.push_back(e.text());
        h["anomalies"].push_back({{"name", a.name},
                                  {"title", racelab::anomaly_title(a.name)},
                                  {"description", a.description},
                                  {"transactions", a.transactions},
                                  {"cycle", cycle}});
      }
    }
  }
  std::cout << out.dump() << '\n';
}

int sql(SqlOptions o) {
  lab::sqlcase::Case c;
  lab::sqlcase::Result r;
  bool history_implied = false;
  try {
    c = lab::sqlcase::load(o.file);
    // With no check, the history is the oracle: a case is never "proved" by running to its end.
    if (!c.check && o.run.history == lab::sqlcase::Options::History::off) {
      o.run.history = lab::sqlcase::Options::History::judge;
      history_implied = true;
    }
    // A search on a server runs some tens of interleavings a second: a terminal sees how far it is.
    ProgressBar bar(o.run.verify ? "runs so far, --verify's replays included" : "runs so far");
    if (bar.shown() && o.run.schedule.empty()) o.run.progress = [&bar](int runs) { bar.tally(runs); };
    r = lab::sqlcase::explore(c, o.run);
  } catch (const lab::sqlcase::CaseError& e) {
    std::cerr << "racelab sql: " << e.what() << '\n';
    return kExitUsage;
  } catch (const std::exception& e) {  // RunError, a database that cannot be opened, a bad schedule
    std::cerr << "racelab sql: " << e.what() << '\n';
    if (history_implied && std::string_view(e.what()).find("--history") != std::string_view::npos)
      std::cerr << "racelab sql: (the case has no check:, so its history judges each interleaving; give it a "
                   "check: line to judge it without one)\n";
    return kExitUsage;
  }
  const bool diverged = r.report.failed() && r.report.outcome().kind() == racelab::OutcomeKind::diverged;
  if (diverged || (r.report.failed() && r.report.nondeterministic())) {
    // Not a finding about the case: a --schedule that does not fit it, or a run (a failure's own
    // replay too) that ran differently when run again. Said on stderr, exit 2, nothing to replay.
    std::string why = diverged ? r.report.outcome().message() : std::string();
    for (const auto& note : r.report.notes())
      if (why.empty() && note.starts_with("non-deterministic")) why = note;
    if (!o.run.schedule.empty() && diverged)
      std::cerr << "racelab sql: this schedule does not fit " << o.file
                << " (it is from another case or was edited, or the database answered differently): " << why
                << '\n';
    else if (!o.run.schedule.empty())
      std::cerr << "racelab sql: the schedule fits, but replaying it again ran differently, so the database "
                   "did not answer the same way twice (docs/sql.md, \"Determinism on a server\"): "
                << why << '\n';
    else
      std::cerr << "racelab sql: the search cannot answer: an interleaving ran differently when it was run "
                   "again, so the database did not answer the same way twice (docs/sql.md, \"Determinism "
                   "on a server\"): "
                << why << '\n';
    return kExitUsage;
  }
  if (o.json) {
    print_json(o, c, r);
    return r.report.failed() ? kExitFailed : kExitOk;
  }
  std::string where = r.backend + " (" + r.level;
  for (const auto& s : r.settings) where += ", " + s;
  where += ")";
  if (!c.title.empty()) std::cout << c.title << '\n';
  if (history_implied)
    std::cout << "no check: each interleaving is judged by its history (as with --history)\n";
  for (const auto& note : r.report.notes()) std::cout << note << '\n';
  if (r.runs_unjudged > 0)
    std::cout << "note: " << r.runs_unjudged << (r.runs_unjudged == 1 ? " run was" : " runs were")
              << " not judged by the history: a statement waited for a lock, and after the lock was released "
                 "another session went on before racelab could record it, so the history may be out of the "
                 "database's order (the check, if any, still judged them)\n";
  if (r.runs_left_out > 0)
    std::cout << "note: " << r.runs_left_out << (r.runs_left_out == 1 ? " run had" : " runs had")
              << " reads left out of the history: the value read was also another version's, so which one it "
                 "saw is not known (an anomaly resting on such a read is not seen)\n";
  if (r.server_ordered > 0)
    std::cout << "note: in " << r.server_ordered << (r.server_ordered == 1 ? " run" : " runs")
              << " a transaction's end released a lock that two or more sessions waited for, and the server "
                 "chose which went first; such a run may replay differently (--verify tells; docs/sql.md)\n";
  if (!r.report.failed()) {
    const std::string& strategy = r.report.strategy();
    if (!o.run.schedule.empty())
      std::cout << where << ": the schedule replays to its end, and nothing breaks\n";
    else if (!c.check && r.runs_unjudged > 0)  // judged by nothing: no proof
      std::cout << where << ": no interleaving of " << r.report.runs() << " breaks it by its history, but "
                << r.runs_unjudged << " could not be judged and the case has no check (see the note): not a "
                << "proof; give the case a check:\n";
    else if (r.report.complete())
      std::cout << where << ": no interleaving of " << r.report.runs() << " breaks it ("
                << (strategy.starts_with("dfs:")
                        ? "all with at most " + strategy.substr(4) + " preemptions explored"
                        : std::string("all explored"))
                << (r.server_ordered > 0 ? "; the server ordered some waits: see the note" : "") << ")\n";
    else
      std::cout << where << ": none of " << r.report.runs() << " interleavings breaks it (not all explored: "
                << (r.report.strategy().starts_with("dfs") && r.report.runs() < o.run.runs
                        ? "the " + r.report.strategy() + " bound left some out"
                        : r.report.strategy() + " stopped at --runs " + std::to_string(o.run.runs))
                << ")\n";
    return kExitOk;
  }
  std::cout << where << ": an interleaving breaks it (found after " << r.report.runs()
            << (r.report.runs() == 1 ? " interleaving)\n" : " interleavings)\n");
  if (!r.check_value.empty()) std::cout << "check: " << c.check->sql << " -> " << r.check_value << '\n';
  if (r.history) {
    std::cout << r.history->text() << '\n';
    if (r.left_out > 0)
      std::cout << "(" << r.left_out << (r.left_out == 1 ? " read" : " reads")
                << " left out of the history: the value read was also another version's, so which one it "
                   "saw is not known)\n";
  } else if (r.unordered) {
    std::cout << "history: not judged (a statement's lock wait ended and another session went on before it "
                 "was recorded)\n";
  } else if (r.check_value.empty())
    std::cout << r.report.outcome() << '\n';
  std::cout << '\n';
  std::cout << lab::sqlcase::timeline(c, r.witness) << '\n'
            << "schedule: " << r.report.schedule() << '\n'
            << "replay:   " << replay_command(o, r) << '\n';
  return kExitFailed;
}

}  // namespace

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

void add_sql(CLI::App& app, std::function<int()>& run) {
  auto* cmd = app.add_subcommand("sql",
                                 "Explore every interleaving of a case's SQL sessions on a real database "
                                 "(exit 0 none breaks the check, 1 one "
                                 "does, 2 the case cannot be run); the case format is in docs/sql.md");
  auto o = std::make_shared<SqlOptions>();
  o->run.db = "sqlite";
  cmd->add_option("case", o->file, "The case file: setup:, two to four sessions, check:")->required();
  cmd->add_option(
         "--db", o->run.db,
         "sqlite (a scratch directory in /tmp), sqlite:DIR, a PostgreSQL conninfo / postgresql://… URL "
         "(the schema racelab_sql is dropped and made again for each interleaving), or a "
         "mariadb://user@host:port/database URL (the database racelab_sql, likewise)")
      ->capture_default_str();
  cmd->add_option(
      "--level", o->run.level,
      "SQLite: 'deferred' or 'immediate' and 'wal' or 'rollback' (default 'deferred wal'); PostgreSQL: "
      "'read committed' (default), 'repeatable read', 'serializable'; MariaDB: 'read uncommitted', 'read "
      "committed', 'repeatable read' (default), 'serializable'");
  cmd->add_option("--set", o->run.settings,
                  "NAME=VALUE for every session (repeat the option): PostgreSQL SET, MariaDB SET SESSION, "
                  "SQLite PRAGMA; e.g. --set innodb_snapshot_isolation=on");
  cmd->add_option("--strategy", o->run.strategy,
                  "dfs (every interleaving), dfs:N (at most N preemptions), random, pct:D")
      ->capture_default_str();
  cmd->add_option("--runs", o->run.runs, "At most this many interleavings")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--seed", o->run.seed, "First seed (random, pct)");
  cmd->add_option("--schedule", o->run.schedule, "Replay this schedule (as printed by a failing run)");
  cmd->add_flag("--verify", o->run.verify,
                "Replay every interleaving from its schedule as well and report any that runs differently");
  cmd->add_flag_callback(
      "--history", [o] { o->run.history = lab::sqlcase::Options::History::judge; },
      "Record what each transaction read and wrote and fail any interleaving whose history is not "
      "serializable, named by its anomaly (G1a, G1c, P4, G2, ...), with or without a check");
  cmd->add_option("--schema", o->run.schema,
                  "PostgreSQL: the schema each interleaving makes afresh (it is dropped); MariaDB: the "
                  "database")
      ->capture_default_str();
  cmd->add_flag("--json", o->json,
                "Print one JSON object: case, title, backend, level, settings, result (holds | breaks), "
                "schedules, complete, strategy, server_ordered; a failure adds schedule, check_value, "
                "witness, replay and, with "
                "--history, history");
  cmd->callback([&run, o] { run = [o] { return sql(*o); }; });
}

}  // namespace racelab::cli
