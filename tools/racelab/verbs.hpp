// The racelab CLI's verbs. Each verb registers its subcommand and returns the process exit code:
// 0 success, 1 a demonstration or check did not show what it should, 2 bad usage.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <string>
#include <vector>

namespace racelab::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailed = 1;
inline constexpr int kExitUsage = 2;

// Adds a verb to `app`; `run` is set to the verb's body, called after parsing.
void add_demo(CLI::App& app, std::function<int()>& run);
void add_points(CLI::App& app, std::function<int()>& run);
void add_serve(CLI::App& app, std::function<int()>& run);
void add_audit(CLI::App& app, std::function<int()>& run);  // the bank's books against its ledger
void add_load(CLI::App& app, std::function<int()>& run);
void add_stress(CLI::App& app, std::function<int()>& run);
void add_explore(CLI::App& app, std::function<int()>& run);  // explore and replay
void add_run(CLI::App& app, std::function<int()>& run);
void add_sql(CLI::App& app, std::function<int()>& run);  // SQL sessions' interleavings on a database
// `s` as one word for a POSIX shell, in single quotes (the replay commands the verbs print).
std::string shell_quote(const std::string& s);
void add_isolation(CLI::App& app, std::function<int()>& run);  // the isolation matrix, by search
void add_compile(CLI::App& app);                               // cc and c++, listed for --help
// `racelab cc` / `racelab c++` (main() dispatches them before parsing: every argument is the
// compiler's).
int compile(const std::string& verb, const std::vector<std::string>& args);
// libracelab_rt.so: $RACELAB_RT_LIBRARY, else beside this racelab's build, else installed.
std::string runtime_library();

}  // namespace racelab::cli
