// `racelab run -- ./prog`: search an unmodified program's interleavings; `racelab cc` / `racelab
// c++`: compiler wrappers that instrument through the ThreadSanitizer ABI and link racelab_rt.
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "progress.hpp"
#include "results.hpp"
#include "session.hpp"
#include "verbs.hpp"

#ifndef RACELAB_RT_BUILD_PATH
#define RACELAB_RT_BUILD_PATH ""
#endif
#ifndef RACELAB_RT_INSTALL_PATH
#define RACELAB_RT_INSTALL_PATH ""
#endif

namespace racelab::cli {

namespace fs = std::filesystem;

// libracelab_rt.so: $RACELAB_RT_LIBRARY, else beside this racelab's build, else installed.
std::string runtime_library() {
  if (const char* env = std::getenv("RACELAB_RT_LIBRARY"); env != nullptr && *env != '\0') return env;
  for (const char* candidate : {RACELAB_RT_BUILD_PATH, RACELAB_RT_INSTALL_PATH}) {
    std::error_code ec;
    if (*candidate != '\0' && fs::exists(candidate, ec)) return candidate;
  }
  return RACELAB_RT_INSTALL_PATH;
}

namespace {

bool is_source(const std::string& arg) {
  if (arg.empty() || arg[0] == '-') return false;
  for (const char* ext : {".c", ".cc", ".cpp", ".cxx", ".c++", ".C", ".cp", ".CPP"})
    if (arg.size() > std::string(ext).size() && arg.ends_with(ext)) return true;
  return false;
}

int exec_wait(const std::vector<std::string>& args) {
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = fork();
  if (pid == 0) {
    execvp(argv[0], argv.data());
    const int error = errno;
    std::fprintf(stderr,
                 "racelab: cannot run the compiler '%s': %s ($RACELAB_CC and $RACELAB_CXX choose it)\n",
                 argv[0], std::strerror(error));
    _exit(127);
  }
  int status = 0;
  if (pid < 0 || waitpid(pid, &status, 0) < 0) return 1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

void compile_usage(const std::string& verb) {
  std::cout
      << "Usage: racelab " << verb << " [compiler arguments...]\n\n"
      << "Compiles and links like the compiler it wraps, with the program's memory accesses instrumented\n"
      << "(-fsanitize=thread at compile time) and racelab's runtime, libracelab_rt.so, linked in place of\n"
      << "ThreadSanitizer's. The program then runs as usual on its own, and under `racelab run`.\n\n"
      << "The compiler: $" << (verb == "cc" ? "RACELAB_CC (default cc)" : "RACELAB_CXX (default c++)")
      << "; GCC and Clang both work.\n"
      << "The runtime: $RACELAB_RT_LIBRARY (default " << runtime_library() << ").\n";
}

}  // namespace

int compile(const std::string& verb, const std::vector<std::string>& args) {
  if (args.empty() || args[0] == "--help" || args[0] == "-h") {
    compile_usage(verb);
    return args.empty() ? kExitUsage : kExitOk;
  }
  const char* env = std::getenv(verb == "cc" ? "RACELAB_CC" : "RACELAB_CXX");
  std::string compiler = env != nullptr && *env != '\0' ? env : (verb == "cc" ? "cc" : "c++");
  const std::string rt = runtime_library();
  const std::vector<std::string> instrument = {"-fsanitize=thread"};
  bool compile_only = false, has_debug = false;
  for (const auto& a : args) {
    if (a == "-c" || a == "-S" || a == "-E" || a == "-M" || a == "-MM") compile_only = true;
    if (a.starts_with("-g")) has_debug = true;
  }
  auto with_flags = [&](std::vector<std::string> cmd) {
    cmd.insert(cmd.end(), instrument.begin(), instrument.end());
    if (!has_debug) cmd.push_back("-g");  // line information for the timeline and race reports
    return cmd;
  };
  if (compile_only) {
    std::vector<std::string> cmd{compiler};
    cmd.insert(cmd.end(), args.begin(), args.end());
    return exec_wait(with_flags(cmd));
  }
  std::error_code ec;
  if (!fs::exists(rt, ec)) {
    std::cerr << "racelab " << verb << ": racelab's runtime library is missing: '" << rt
              << "' (build racelab, or set RACELAB_RT_LIBRARY)\n";
    return kExitUsage;
  }
  // Linking: -fsanitize=thread would link ThreadSanitizer's runtime, so each source is compiled
  // on its own (instrumented), then everything is linked with racelab_rt instead.
  char tmpl[] = "/tmp/racelab-cc-XXXXXX";
  const char* dir = mkdtemp(tmpl);
  if (dir == nullptr) {
    std::perror("racelab: mkdtemp");
    return kExitFailed;
  }
  std::vector<std::string> common;  // arguments that are neither sources, nor the output, nor link-only
  for (std::size_t i = 0; i < args.size(); ++i) {
    const auto& a = args[i];
    if (a == "-o" || a == "-MF" || a == "-MT" || a == "-MQ") {
      ++i;
      continue;
    }
    if (is_source(a) || a.starts_with("-l") || a.starts_with("-L") || a.starts_with("-Wl,") ||
        a == "-shared" || a == "-static" || a == "-rdynamic" || a == "-MD" || a == "-MMD")
      continue;
    if (!a.empty() && a[0] != '-' && (a.ends_with(".o") || a.ends_with(".a") || a.ends_with(".so"))) continue;
    common.push_back(a);
  }
  std::vector<std::string> link{compiler};
  int n = 0, rc = 0;
  for (std::size_t i = 0; i < args.size() && rc == 0; ++i) {
    const auto& a = args[i];
    if (a == "-o" && i + 1 < args.size()) {
      link.push_back(a);
      link.push_back(args[++i]);
      continue;
    }
    if (!is_source(a)) {
      link.push_back(a);
      continue;
    }
    std::string obj = std::string(dir) + "/" + std::to_string(n++) + ".o";
    std::vector<std::string> cmd{compiler};
    cmd.insert(cmd.end(), common.begin(), common.end());
    cmd.insert(cmd.end(), {"-c", a, "-o", obj});
    rc = exec_wait(with_flags(cmd));
    link.push_back(obj);
  }
  if (rc == 0) {
    auto libdir = fs::path(rt).parent_path().string();
    link.insert(link.end(),
                {"-pthread", "-Wl,--no-as-needed", rt, "-Wl,--as-needed", "-Wl,-rpath," + libdir});
    rc = exec_wait(link);
  }
  fs::remove_all(dir, ec);
  return rc;
}

namespace {

// "30s", "500ms", "2m", "1h", or a bare number of seconds ("1.5"); nullopt for anything else.
std::optional<std::chrono::milliseconds> parse_duration(const std::string& text) {
  std::size_t used = 0;
  double value = 0;
  try {
    value = std::stod(text, &used);
  } catch (const std::exception&) {
    return std::nullopt;
  }
  if (!(value >= 0) || text.empty() || !std::isdigit(static_cast<unsigned char>(text[0])))
    return std::nullopt;
  const std::string unit = text.substr(used);
  double ms_per_unit = 0;
  if (unit.empty() || unit == "s")
    ms_per_unit = 1000;
  else if (unit == "ms")
    ms_per_unit = 1;
  else if (unit == "m" || unit == "min")
    ms_per_unit = 60'000;
  else if (unit == "h")
    ms_per_unit = 3'600'000;
  else
    return std::nullopt;
  const double ms = value * ms_per_unit;
  if (ms > 1e12) return std::nullopt;  // past 30 years: a typo
  return std::chrono::milliseconds(static_cast<long long>(ms));
}

}  // namespace

void add_run(CLI::App& app, std::function<int()>& run) {
  auto* sub = app.add_subcommand(
      "run",
      "Search the interleavings of an unmodified C/C++ program (built with `racelab cc` / `racelab c++`);\n"
      "exit 1 if a run fails, 0 if none did within the budget, 2 on bad usage");
  auto opts = std::make_shared<run::RunOptions>();
  auto strategy = std::make_shared<std::string>("random");
  auto races = std::make_shared<std::string>("report");
  auto points = std::make_shared<std::string>("racy");
  auto seed = std::make_shared<std::string>("0");
  auto time = std::make_shared<std::string>("0");
  auto stuck = std::make_shared<double>(10);
  auto no_pin = std::make_shared<bool>(false);
  sub->add_option("--strategy", *strategy, "random, pct:DEPTH or dfs:PREEMPTIONS")->capture_default_str();
  sub->add_option("--runs", opts->runs, "How many schedules at most")
      ->capture_default_str()
      ->check(CLI::Range(1, 100'000'000));
  sub->add_option("--time", *time,
                  "Stop starting runs after this long: 30s, 500ms, 2m, 1h (a bare number is seconds; 0: no "
                  "limit). random and pct only: a DFS is bounded by --runs and its preemption bound");
  sub->add_option("--seed", *seed, "Run i uses seed SEED + i")->capture_default_str();
  sub->add_option("--schedule", opts->schedule, "Replay this schedule (from a failure's replay line)");
  sub->add_option("--races", *races, "Data races: report (list them), fail (a race fails its run), ignore")
      ->capture_default_str();
  sub->add_option(
         "--points", *points,
         "Where threads may be preempted besides every threading call: racy (instructions found racing "
         "in a first phase of runs), sync (threading calls and atomics only), all-accesses (every "
         "memory access: thorough and slow)")
      ->capture_default_str();
  sub->add_option("--detect-runs", opts->detect_runs, "Runs in the race-finding phase of --points racy")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  sub->add_flag("--fail-on-exit", opts->fail_on_exit, "A non-zero exit status fails the run");
  auto sleeps = std::make_shared<std::string>("wait");
  sub->add_option("--sleeps", *sleeps,
                  "wait: a sleeping thread waits in virtual time, waking when every other thread waits "
                  "(polling loops end quickly); yield: a sleep is only a scheduling point, so the sleeper "
                  "may also run on first (finds bugs that a sleep hides, at the cost of longer searches)")
      ->capture_default_str();
  sub->add_option("--max-steps", opts->max_steps, "Scheduling points per run before it is a livelock")
      ->capture_default_str();
  sub->add_option("--stuck", *stuck, "Seconds a thread may spend in a call racelab does not control")
      ->capture_default_str();
  sub->add_flag("--verify", opts->verify, "Re-run the failure by seed and replay every passing run too");
  sub->add_flag("--no-pin", *no_pin, "Do not pin racelab and the program to CPUs");
  sub->add_option("--trace", opts->trace_file, "Write the failing run as Chrome-trace JSON (Perfetto)");
  auto results = std::make_shared<ResultFlags>();
  results->jobs = 0;  // one worker per usable CPU, each pinned to its own (see --no-pin)
  add_result_flags(sub, *results);
  sub->get_option("--jobs")->description(
      "Runs at once, each worker with a program process of its own, pinned with it to a CPU of its own "
      "(0: one per usable CPU; RACELAB_JOBS overrides it); the answer does not depend on it. Default: one "
      "per usable CPU, but 1 for a program that loads libsqlite3 or libpq (its runs would meet in the "
      "database)");
  const CLI::Option* jobs_option = sub->get_option("--jobs");
  sub->add_option("command", opts->argv, "-- ./program [arguments...]")->expected(-1);
  run = {};
  sub->callback([&run, opts, strategy, races, points, seed, time, stuck, no_pin, sleeps, results,
                 jobs_option] {
    const bool jobs_given = jobs_option->count() > 0;
    run = [opts, strategy, races, points, seed, time, stuck, no_pin, sleeps, results, jobs_given]() -> int {
      if (opts->argv.empty()) {
        std::cerr << "racelab run: no program given. Usage: racelab run [options] -- ./program [args...]\n";
        return kExitUsage;
      }
      opts->strategy = *strategy;
      if (*races == "report")
        opts->races = run::Races::report;
      else if (*races == "fail")
        opts->races = run::Races::fail;
      else if (*races == "ignore")
        opts->races = run::Races::ignore;
      else {
        std::cerr << "racelab run: --races must be report, fail or ignore, not '" << *races << "'\n";
        return kExitUsage;
      }
      if (*sleeps != "wait" && *sleeps != "yield") {
        std::cerr << "racelab run: --sleeps must be wait or yield, not '" << *sleeps << "'\n";
        return kExitUsage;
      }
      opts->sleeps_yield = *sleeps == "yield";
      if (*points == "racy")
        opts->points = run::Points::racy;
      else if (*points == "sync")
        opts->points = run::Points::sync;
      else if (*points == "all-accesses")
        opts->points = run::Points::all;
      else {
        std::cerr << "racelab run: --points must be racy, sync or all-accesses, not '" << *points << "'\n";
        return kExitUsage;
      }
      try {
        std::size_t used = 0;
        opts->seed = std::stoull(*seed, &used);
        if (used != seed->size() || (*seed)[0] == '-') throw std::invalid_argument("trailing");
      } catch (const std::exception&) {
        std::cerr << "racelab run: --seed '" << *seed << "' is not a number\n";
        return kExitUsage;
      }
      const auto budget = parse_duration(*time);
      if (!budget) {
        std::cerr << "racelab run: --time '" << *time
                  << "' is not a duration: a number with ms, s, m or h after it (30s, 500ms, 2m; a bare "
                     "number is seconds)\n";
        return kExitUsage;
      }
      if (budget->count() > 0 && strategy->starts_with("dfs")) {
        std::cerr << "racelab run: --time works with random and pct; a DFS explores its tree in order, "
                     "bounded by --runs and its preemption bound (dfs:N)\n";
        return kExitUsage;
      }
      opts->time = *budget;
      opts->stuck = std::chrono::milliseconds(static_cast<long>(*stuck * 1000));
      opts->pin_cpu = !*no_pin;
      opts->jobs = jobs_given ? results->jobs : -1;
      opts->runtime_library = runtime_library();
      auto shard = resolve_shard(results->shard);
      if (!shard) return kExitUsage;
      if (shard->count > 1 && budget->count() > 0) {
        std::cerr
            << "racelab run: --time and --shard do not go together (a shard's runs are fixed by --runs)\n";
        return kExitUsage;
      }
      opts->shard = *shard;
      bool written = true;
      const auto start = std::chrono::steady_clock::now();
      opts->on_report = [&](const racelab::Report& report) {
        std::string command = "racelab run --strategy " + *strategy + " --runs " +
                              std::to_string(opts->runs) + " --seed " + *seed + " --";
        for (const auto& a : opts->argv) command += " " + a;
        const double seconds =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        written = write_results(
            *results, SearchInfo{command, opts->argv[0], *strategy, opts->seed, opts->runs, seconds}, report);
      };
      ProgressBar bar("schedules");
      if (bar.shown()) opts->progress = [&bar](int done, int total) { bar.update(done, total); };
      int rc = run::run_program(*opts, std::cout, std::cerr);
      return written ? rc : kExitUsage;
    };
  });
}

void add_compile(CLI::App& app) {
  // Dispatched by main() before parsing (every argument belongs to the compiler); listed here
  // for --help.
  app.add_subcommand("cc", "Compile a C program for `racelab run` (wraps $RACELAB_CC or cc)");
  app.add_subcommand("c++", "Compile a C++ program for `racelab run` (wraps $RACELAB_CXX or c++)");
}

}  // namespace racelab::cli
