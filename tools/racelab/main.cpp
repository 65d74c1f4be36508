// racelab — make race conditions reproducible, explainable and provably fixed.
#include <iostream>
#include <string_view>

#include "fatal_signals.hpp"
#include "results.hpp"
#include "verbs.hpp"

int main(int argc, char** argv) {
  racelab::cli::report_fatal_signals();  // never die silently: a crash names its signal, with a backtrace
  CLI::App app{
      "racelab: force, search, replay and fix race conditions in C++ code.\n"
      "Exit codes: 0 ok, 1 a check failed (a race was found where none should be, or a\n"
      "demonstration did not show what it should), 2 bad usage."};
  app.require_subcommand(1);
  app.set_version_flag("--version", "racelab 0.1.0");
  std::function<int()> run;
  racelab::cli::add_demo(app, run);
  racelab::cli::add_points(app, run);
  racelab::cli::add_serve(app, run);
  racelab::cli::add_audit(app, run);
  racelab::cli::add_explore(app, run);
  racelab::cli::add_merge(app, run);
  racelab::cli::add_load(app, run);
  racelab::cli::add_stress(app, run);
  racelab::cli::add_run(app, run);
  racelab::cli::add_sql(app, run);
  racelab::cli::add_isolation(app, run);
  racelab::cli::add_compile(app);
  if (argc > 1 && (std::string_view(argv[1]) == "cc" || std::string_view(argv[1]) == "c++"))
    return racelab::cli::compile(argv[1], std::vector<std::string>(argv + 2, argv + argc));
  auto is_verb = [&](const std::string& word) {
    for (const auto* sub : app.get_subcommands({}))
      if (sub->get_name() == word) return true;
    return false;
  };
  if (argc > 1 && argv[1][0] != '-' && !is_verb(argv[1])) {
    std::cerr << "racelab: unknown verb '" << argv[1] << "'. Verbs:";
    for (const auto* sub : app.get_subcommands({})) std::cerr << ' ' << sub->get_name();
    std::cerr << ". See racelab --help.\n";
    return racelab::cli::kExitUsage;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : racelab::cli::kExitUsage;
  }
  try {
    return run();
  } catch (const std::exception& e) {
    std::cerr << "racelab: " << e.what() << '\n';
    return racelab::cli::kExitFailed;
  }
}
