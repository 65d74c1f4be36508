// Results a machine reads, and the flags that make them: `--jobs`, `--shard K/N|env`, `--json FILE`,
// `--junit FILE`, shared by `racelab explore` and `racelab run`, and `racelab merge` over shards.
//
//   ResultFlags flags;  add_result_flags(cmd, flags);            // registers the four flags
//   auto shard = resolve_shard(flags.shard);                      // nullopt: the error was printed
//   write_results(flags, Search{"explore bank", "bank", …}, report);   // --json and --junit
#pragma once

#include <racelab/explore.hpp>

#include <CLI/CLI.hpp>

#include <optional>
#include <string>

namespace racelab::cli {

struct ResultFlags {
  int jobs = 0;       // 0: one per core
  std::string shard;  // "", "K/N" or "env"
  std::string json, junit;
};

// `jobs`: whether the command runs searches on several threads (its default: flags.jobs).
void add_result_flags(CLI::App* cmd, ResultFlags& flags, bool jobs = true);

// "K/N" (K from 0, as GTEST_SHARD_INDEX), or "env": GTEST_SHARD_INDEX / GTEST_TOTAL_SHARDS (set by
// Bazel's shard_count and many CI runners; GTEST_SHARD_STATUS_FILE is touched to say racelab
// shards), else Kubernetes' JOB_COMPLETION_INDEX with RACELAB_SHARD_COUNT. Prints why and returns
// nullopt on bad input.
std::optional<racelab::ExploreShard> resolve_shard(const std::string& spec);

// What was searched, for the reports: the command (`racelab explore bank --fix unsafe`), a
// scenario name (the JUnit test case), and the options that define the run space.
struct SearchInfo {
  std::string command;
  std::string scenario;
  std::string strategy;
  std::uint64_t seed = 0;
  int runs = 0;
  double seconds = 0;
  std::vector<std::string> watch{};
  double watch_threshold = 0.05;
};

// Writes --json and --junit if asked; false (with the error printed) if a file cannot be written.
bool write_results(const ResultFlags& flags, const SearchInfo& info, const racelab::Report& report);

void add_merge(CLI::App& app, std::function<int()>& run);

}  // namespace racelab::cli
