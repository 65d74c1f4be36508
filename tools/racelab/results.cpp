// --json, --junit, --shard and `racelab merge`. See results.hpp.
#include "results.hpp"

#include <nlohmann/json.hpp>

#include <charconv>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <set>
#include <sstream>

#include "verbs.hpp"

namespace racelab::cli {
namespace {

using nlohmann::json;

std::optional<int> number(std::string_view text) {
  int value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr != text.data() + text.size() || text.empty()) return std::nullopt;
  return value;
}

std::optional<racelab::ExploreShard> shard_of(std::string_view index, std::string_view count,
                                              const std::string& what) {
  auto k = number(index), n = number(count);
  if (!k || !n || *n < 1 || *k < 0 || *k >= *n) {
    std::cerr << "racelab: " << what << " is not a shard: want K/N with 0 <= K < N (shards count from 0, "
              << "as GTEST_SHARD_INDEX does)\n";
    return std::nullopt;
  }
  return racelab::ExploreShard{*k, *n};
}

const char* env(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? v : nullptr;
}

std::string xml_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default:
        // XML 1.0 allows no control characters but tab, newline and carriage return.
        if (static_cast<unsigned char>(c) < 0x20 && c != '\t' && c != '\n' && c != '\r')
          out += '?';
        else
          out += c;
    }
  }
  return out;
}

json failure_json(const racelab::Report& r) {
  std::ostringstream story;
  story << r;
  return json{{"seed", r.seed()},
              {"seed_replays", r.seed_replays()},
              {"schedule", r.schedule()},
              {"run_key", r.run_key()},
              {"kind", std::string(racelab::to_string(r.outcome().kind()))},
              {"message", r.outcome().message()},
              {"story", story.str()}};
}

json report_json(const SearchInfo& info, const racelab::Report& r) {
  json parts = json::array();
  for (const auto& p : r.parts()) parts.push_back(json{{"key", p.key}, {"runs", p.runs}});
  json failures = json::array();
  if (r.failed()) failures.push_back(failure_json(r));
  return json{{"version", RACELAB_VERSION},
              {"command", info.command},
              {"scenario", info.scenario},
              {"strategy", r.strategy()},
              {"seed", info.seed},
              {"runs_requested", info.runs},
              {"runs", r.runs()},
              {"complete", r.complete()},
              {"failures", failures},
              {"notes", r.notes()},
              {"shard", json{{"index", r.shard().index}, {"count", r.shard().count}}},
              {"parts", parts},
              {"jobs", r.jobs()},
              {"seconds", info.seconds},
              {"coverage", json::parse(r.coverage().json())},
              {"points_never_reached", r.coverage().points_never_reached()},
              {"watch", info.watch},
              {"watch_threshold", info.watch_threshold},
              {"warnings", r.warnings()}};
}

std::string junit_xml(const json& report) {
  const auto& failures = report.at("failures");
  std::ostringstream out;
  out << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      << "<testsuites tests=\"1\" failures=\"" << failures.size() << "\">\n"
      << "  <testsuite name=\"racelab\" tests=\"1\" failures=\"" << failures.size() << "\" time=\""
      << report.value("seconds", 0.0) << "\">\n"
      << "    <testcase classname=\"racelab." << xml_escape(report.at("scenario").get<std::string>())
      << "\" name=\"" << xml_escape(report.at("command").get<std::string>()) << "\" time=\""
      << report.value("seconds", 0.0) << "\">\n";
  if (!failures.empty()) {
    const auto& f = failures.front();
    out << "      <failure message=\"" << xml_escape(f.at("message").get<std::string>()) << "\" type=\""
        << xml_escape(f.at("kind").get<std::string>()) << "\">"
        << xml_escape(f.at("story").get<std::string>()) << "</failure>\n";
  }
  out << "      <system-out>"
      << xml_escape(std::to_string(report.at("runs").get<std::uint64_t>()) + " runs, " +
                    report.at("strategy").get<std::string>() +
                    (report.at("complete").get<bool>() ? ", complete" : ""))
      << "</system-out>\n"
      << "    </testcase>\n  </testsuite>\n</testsuites>\n";
  return out.str();
}

bool write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
  out.close();
  if (!out) {
    std::cerr << "racelab: cannot write '" << path << "'\n";
    return false;
  }
  return true;
}

bool write_json_and_junit(const ResultFlags& flags, const json& report) {
  if (!flags.json.empty() && !write_file(flags.json, report.dump(2) + "\n")) return false;
  if (!flags.junit.empty() && !write_file(flags.junit, junit_xml(report))) return false;
  return true;
}

// --- racelab merge ---------------------------------------------------------------------------

struct MergeOptions {
  std::vector<std::string> files;
  ResultFlags out;
};

int merge_verb(const MergeOptions& o) {
  std::vector<json> shards;
  for (const auto& file : o.files) {
    std::ifstream in(file);
    if (!in) {
      std::cerr << "racelab merge: cannot read '" << file << "'\n";
      return kExitUsage;
    }
    try {
      shards.push_back(json::parse(in));
      const auto& s = shards.back();
      for (const char* key :
           {"command", "strategy", "runs", "complete", "failures", "shard", "parts", "coverage"})
        if (!s.contains(key)) throw std::invalid_argument(std::string("no '") + key + "' field");
    } catch (const std::exception& e) {
      std::cerr << "racelab merge: '" << file << "' is not a racelab --json report: " << e.what() << '\n';
      return kExitUsage;
    }
  }
  const json& first = shards.front();
  const int count = first.at("shard").at("count").get<int>();
  std::set<int> seen;
  for (std::size_t i = 0; i < shards.size(); ++i) {
    const json& s = shards[i];
    for (const char* key : {"command", "strategy", "seed", "runs_requested"})
      if (s.value(key, json()) != first.value(key, json())) {
        std::cerr << "racelab merge: '" << o.files[i] << "' is from another search than '" << o.files[0]
                  << "' (its " << key << " is " << s.value(key, json()).dump() << ", not "
                  << first.value(key, json()).dump() << ")\n";
        return kExitUsage;
      }
    const int index = s.at("shard").at("index").get<int>();
    if (s.at("shard").at("count").get<int>() != count || !seen.insert(index).second) {
      std::cerr << "racelab merge: '" << o.files[i] << "' is shard " << index << "/"
                << s.at("shard").at("count").get<int>() << ", which does not fit shards of " << count
                << (seen.count(index) ? " (or was given twice)" : "") << '\n';
      return kExitUsage;
    }
  }
  if (static_cast<int>(seen.size()) != count) {
    std::cerr << "racelab merge: " << seen.size() << " of " << count << " shards given; missing:";
    for (int k = 0; k < count; ++k)
      if (!seen.count(k)) std::cerr << ' ' << k << '/' << count;
    std::cerr << '\n';
    return kExitUsage;
  }
  std::vector<racelab::ShardSummary> summaries;
  for (const json& s : shards) {
    racelab::ShardSummary summary{s.at("strategy").get<std::string>().starts_with("dfs"),
                                  s.at("runs").get<std::uint64_t>(),
                                  s.at("complete").get<bool>(),
                                  !s.at("failures").empty(),
                                  {},
                                  {}};
    if (summary.failed) summary.run_key = s.at("failures").front().at("run_key").get<std::string>();
    for (const auto& p : s.at("parts"))
      summary.parts.push_back(
          racelab::ExplorePart{p.at("key").get<std::string>(), p.at("runs").get<std::uint64_t>()});
    summaries.push_back(std::move(summary));
  }
  racelab::MergedShards merged;
  try {
    merged = racelab::merge_shards(summaries);
  } catch (const racelab::ExploreOptionsError& e) {
    std::cerr << "racelab merge: " << e.what() << '\n';
    return kExitUsage;
  }
  json out = first;
  out["runs"] = merged.runs;
  out["complete"] = merged.complete;
  out["failures"] = merged.first_failure >= 0
                        ? shards[static_cast<std::size_t>(merged.first_failure)].at("failures")
                        : json::array();
  out["notes"] = merged.first_failure >= 0
                     ? shards[static_cast<std::size_t>(merged.first_failure)].at("notes")
                     : json::array();
  out["shard"] = json{{"index", 0}, {"count", 1}};
  out["merged_shards"] = count;
  out["exact"] = merged.exact;
  if (!merged.exact)
    std::cout << "racelab merge: note: a dfs shard stopped at its --runs bound; the merged runs (and which "
                 "failure comes first) may differ from one process's\n";
  out["parts"] = json::array();
  double seconds = 0;
  int failing_shards = 0, jobs = 0;
  for (const json& s : shards) {
    seconds = std::max(seconds, s.value("seconds", 0.0));
    jobs += s.value("jobs", 0);
    failing_shards += s.at("failures").empty() ? 0 : 1;
  }
  // Coverage of every run the shards counted (after a failure, more runs than one process counts).
  racelab::Coverage coverage;
  try {
    for (std::size_t i = 0; i < shards.size(); ++i)
      coverage.merge(racelab::Coverage::from_json(shards[i].at("coverage").dump()));
  } catch (const std::exception& e) {
    std::cerr << "racelab merge: the coverage in the reports is not readable: " << e.what() << '\n';
    return kExitUsage;
  }
  out["coverage"] = json::parse(coverage.json());
  out["points_never_reached"] = coverage.points_never_reached();
  out["warnings"] = coverage.warnings(first.value("watch", std::vector<std::string>{}),
                                      first.value("watch_threshold", 0.05));
  for (const auto& warning : out["warnings"])
    std::cout << "  warning: " << warning.get<std::string>() << '\n';
  out["seconds"] = seconds;
  out["jobs"] = jobs;
  out["failing_shards"] = failing_shards;
  std::cout << "racelab merge: " << count << " shards of `" << first.at("command").get<std::string>()
            << "`: ";
  if (merged.first_failure >= 0) {
    std::cout << "shard " << shards[static_cast<std::size_t>(merged.first_failure)].at("shard").at("index")
              << " has the first failure (" << failing_shards << " of " << count << " shards failed)\n"
              << out["failures"].front().at("story").get<std::string>();
  } else {
    std::cout << merged.runs << (merged.complete ? " schedules explored, all of them" : " runs")
              << ", no failure\n  " << coverage.text() << '\n';
  }
  if (!write_json_and_junit(o.out, out)) return kExitUsage;
  return failing_shards > 0 ? kExitFailed : kExitOk;
}

}  // namespace

void add_result_flags(CLI::App* cmd, ResultFlags& flags, bool jobs) {
  if (jobs)
    cmd->add_option("--jobs,-j", flags.jobs,
                    "Runs at once (0: one per core); the answer does not depend on it")
        ->check(CLI::Range(0, 1024))
        ->capture_default_str();
  cmd->add_option("--shard", flags.shard,
                  "Run only shard K/N of the run space (K from 0), or 'env': GTEST_SHARD_INDEX/"
                  "GTEST_TOTAL_SHARDS, else JOB_COMPLETION_INDEX with RACELAB_SHARD_COUNT");
  cmd->add_option("--json", flags.json, "Write the result as one JSON object (see docs/scale.md)");
  cmd->add_option("--junit", flags.junit, "Write the result as JUnit XML, one test case");
}

std::optional<racelab::ExploreShard> resolve_shard(const std::string& spec) {
  if (spec.empty()) return racelab::ExploreShard{};
  if (spec != "env") {
    auto slash = spec.find('/');
    if (slash == std::string::npos) {
      std::cerr << "racelab: --shard '" << spec << "' is not K/N or env\n";
      return std::nullopt;
    }
    return shard_of(std::string_view(spec).substr(0, slash), std::string_view(spec).substr(slash + 1),
                    "--shard '" + spec + "'");
  }
  if (const char* total = env("GTEST_TOTAL_SHARDS")) {
    const char* index = env("GTEST_SHARD_INDEX");
    if (index == nullptr) {
      std::cerr << "racelab: --shard env: GTEST_TOTAL_SHARDS is set but GTEST_SHARD_INDEX is not\n";
      return std::nullopt;
    }
    auto shard =
        shard_of(index, total, std::string("GTEST_SHARD_INDEX=") + index + " of GTEST_TOTAL_SHARDS=" + total);
    if (const char* status = env("GTEST_SHARD_STATUS_FILE"); shard && status != nullptr)
      std::ofstream(status, std::ios::app).flush();  // the sharding protocol: "this binary shards"
    return shard;
  }
  if (const char* index = env("JOB_COMPLETION_INDEX")) {
    const char* count = env("RACELAB_SHARD_COUNT");
    if (count == nullptr) {
      std::cerr << "racelab: --shard env: JOB_COMPLETION_INDEX is set; set RACELAB_SHARD_COUNT to the Job's "
                   "completions too (Kubernetes does not pass it)\n";
      return std::nullopt;
    }
    return shard_of(index, count,
                    std::string("JOB_COMPLETION_INDEX=") + index + " of RACELAB_SHARD_COUNT=" + count);
  }
  std::cerr
      << "racelab: --shard env: none of GTEST_TOTAL_SHARDS/GTEST_SHARD_INDEX or JOB_COMPLETION_INDEX is "
         "set\n";
  return std::nullopt;
}

bool write_results(const ResultFlags& flags, const SearchInfo& info, const racelab::Report& report) {
  if (flags.json.empty() && flags.junit.empty()) return true;
  return write_json_and_junit(flags, report_json(info, report));
}

void add_merge(CLI::App& app, std::function<int()>& run) {
  auto o = std::make_shared<MergeOptions>();
  auto* cmd = app.add_subcommand(
      "merge",
      "Combine the --json reports of a search's shards into the report one process gives; exit 1 "
      "if any shard found a failure");
  cmd->add_option("reports", o->files, "One --json report per shard")->required()->check(CLI::ExistingFile);
  cmd->add_option("--json", o->out.json, "Write the merged report as JSON");
  cmd->add_option("--junit", o->out.junit, "Write the merged report as JUnit XML");
  cmd->callback([&run, o] { run = [o] { return merge_verb(*o); }; });
}

}  // namespace racelab::cli
