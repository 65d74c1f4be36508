// Traces and schedules: text forms, the two-column timeline, Chrome trace JSON.
#include "racelab/sim/trace.hpp"

#include <algorithm>
#include <charconv>
#include <sstream>
#include <unordered_map>

#include "racelab/sim/replay.hpp"

namespace racelab {
namespace {

constexpr std::string_view kScheduleTag = "racelab-schedule/1:";

std::string_view kind_name(StepKind kind) {
  switch (kind) {
    case StepKind::point: return "point";
    case StepKind::block: return "block";
    case StepKind::finish: return "finish";
    case StepKind::crash: return "crash";
    case StepKind::idle: return "idle";
  }
  return "?";
}

std::string json_escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) < 0x20) {
      out += ' ';
      continue;
    }
    out += c;
  }
  return out;
}

std::string format_ns(std::int64_t ns) {
  if (ns % 1'000'000 == 0) return std::to_string(ns / 1'000'000) + " ms";
  if (ns % 1'000 == 0) return std::to_string(ns / 1'000) + " us";
  return std::to_string(ns) + " ns";
}

}  // namespace

std::string Trace::text() const {
  std::string out;
  for (std::size_t i = 0; i < steps_.size(); ++i) {
    const auto& s = steps_[i];
    out += std::to_string(i + 1);
    out += ' ';
    out += s.kind == StepKind::idle ? std::string("*") : tasks_[s.task];
    out += ' ';
    out += kind_name(s.kind);
    out += ' ';
    out += s.point;
    out += " -> ";
    out += s.kind == StepKind::crash ? "(" + std::string(to_string(s.fault)) + ")"
           : s.next == kNoTask       ? std::string("(nobody)")
                                     : tasks_[s.next];
    if (s.time_ns != 0) out += " @" + std::to_string(s.time_ns) + "ns";
    out += '\n';
  }
  return out;
}

std::string Trace::timeline() const {
  const std::size_t n = tasks_.size();
  std::vector<std::size_t> width(n);
  for (std::size_t t = 0; t < n; ++t) width[t] = std::max<std::size_t>(tasks_[t].size(), 8);
  std::vector<std::string> cells;
  cells.reserve(steps_.size());
  for (const auto& s : steps_) {
    std::string cell;
    switch (s.kind) {
      case StepKind::point: cell = std::string(s.point); break;
      case StepKind::block: cell = "blocks at " + std::string(s.point); break;
      case StepKind::finish: cell = "(end)"; break;
      case StepKind::crash:
        cell = s.fault == Fault::crash
                   ? "CRASH at " + std::string(s.point)
                   : "FAULT " + std::string(to_string(s.fault)) + " at " + std::string(s.point);
        break;
      case StepKind::idle: break;
    }
    if (s.kind != StepKind::idle)
      width[s.task] = std::min<std::size_t>(std::max(width[s.task], cell.size()), 48);
    cells.push_back(std::move(cell));
  }
  std::ostringstream out;
  auto pad = [](const std::string& s, std::size_t w) {
    std::string c = s.size() > w ? s.substr(0, w - 1) + "~" : s;
    return c + std::string(w - c.size(), ' ');
  };
  out << "  step | ";
  for (std::size_t t = 0; t < n; ++t) out << pad(tasks_[t], width[t]) << (t + 1 < n ? " | " : "");
  out << '\n' << "  -----+-";
  for (std::size_t t = 0; t < n; ++t) out << std::string(width[t], '-') << (t + 1 < n ? "-+-" : "");
  out << '\n';
  for (std::size_t i = 0; i < steps_.size(); ++i) {
    const auto& s = steps_[i];
    std::string num = std::to_string(i + 1);
    out << std::string(num.size() < 6 ? 6 - num.size() : 0, ' ') << num << " | ";
    if (s.kind == StepKind::idle) {
      out << "(" << s.point << (s.time_ns != 0 ? " at " + format_ns(s.time_ns) : "") << ": "
          << (s.next == kNoTask ? std::string("nobody") : tasks_[s.next]) << " runs)\n";
      continue;
    }
    for (std::size_t t = 0; t < n; ++t) {
      out << pad(t == s.task ? cells[i] : "", width[t]) << (t + 1 < n ? " | " : "");
    }
    if (s.kind != StepKind::crash && s.next != s.task && s.next != kNoTask) out << "  -> " << tasks_[s.next];
    out << '\n';
  }
  return out.str();
}

std::string Trace::chrome_json() const {
  std::ostringstream out;
  out << "{\"displayTimeUnit\":\"ns\",\"traceEvents\":[";
  bool first = true;
  auto sep = [&] {
    if (!first) out << ',';
    first = false;
  };
  for (std::size_t t = 0; t < tasks_.size(); ++t) {
    sep();
    out << "{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":1,\"tid\":" << t + 1 << ",\"args\":{\"name\":\""
        << json_escape(tasks_[t]) << "\"}}";
  }
  for (std::size_t i = 0; i < steps_.size(); ++i) {
    const auto& s = steps_[i];
    if (s.kind == StepKind::idle) continue;
    sep();
    out << "{\"name\":\"" << json_escape(s.point) << "\",\"cat\":\"" << kind_name(s.kind)
        << "\",\"ph\":\"X\",\"pid\":1,\"tid\":" << s.task + 1 << ",\"ts\":" << i * 10
        << ",\"dur\":10,\"args\":{\"step\":" << i + 1 << ",\"next\":\""
        << (s.next == kNoTask ? std::string() : json_escape(tasks_[s.next]))
        << "\",\"virtual_time_ns\":" << s.time_ns << "}}";
  }
  out << "]}";
  return out.str();
}

std::string Schedule::text() const {
  std::string out(kScheduleTag);
  for (const auto& e : entries) {
    out += ' ';
    if (e.from.empty()) {
      out += "*>" + e.to;
      continue;
    }
    out += e.from + "@" + e.point + "#" + std::to_string(e.occurrence);
    out += e.crash ? "!" + std::string(to_string(e.fault)) : ">" + e.to;
  }
  return out;
}

Schedule Schedule::parse(std::string_view text) {
  auto bad = [&](std::string_view token, const std::string& why) -> ScheduleParseError {
    return ScheduleParseError("bad schedule token '" + std::string(token) + "': " + why +
                              " (expected *>TASK, TASK@POINT#N>TASK or TASK@POINT#N!FAULT, FAULT one of " +
                              fault_names() + ")");
  };
  while (!text.empty() && (text.front() == ' ' || text.front() == '\n')) text.remove_prefix(1);
  if (text.starts_with(kScheduleTag)) {
    text.remove_prefix(kScheduleTag.size());
  } else if (text.starts_with("racelab-schedule/")) {
    throw ScheduleParseError("unsupported schedule version in '" + std::string(text.substr(0, 20)) +
                             "'; this racelab reads " + std::string(kScheduleTag));
  }
  Schedule out;
  std::size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && (text[i] == ' ' || text[i] == '\n' || text[i] == '\t')) ++i;
    std::size_t j = i;
    while (j < text.size() && text[j] != ' ' && text[j] != '\n' && text[j] != '\t') ++j;
    if (j == i) break;
    std::string_view token = text.substr(i, j - i);
    i = j;
    ScheduleEntry e;
    if (token.starts_with("*>")) {
      e.to = std::string(token.substr(2));
      if (e.to.empty()) throw bad(token, "no task after '*>'");
      out.entries.push_back(std::move(e));
      continue;
    }
    auto at = token.find('@');
    auto hash = token.rfind('#');
    if (at == std::string_view::npos || at == 0) throw bad(token, "no 'TASK@'");
    if (hash == std::string_view::npos || hash < at + 2) throw bad(token, "no '#N' after the point");
    e.from = std::string(token.substr(0, at));
    e.point = std::string(token.substr(at + 1, hash - at - 1));
    auto rest = token.substr(hash + 1);
    auto [ptr, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), e.occurrence);
    if (ec != std::errc() || ptr == rest.data() || e.occurrence == 0)
      throw bad(token, "occurrence is not a number >= 1");
    std::string_view tail(ptr, static_cast<std::size_t>(rest.data() + rest.size() - ptr));
    if (tail.starts_with("!")) {
      auto fault = parse_fault(tail.substr(1));
      if (!fault) throw bad(token, "unknown fault '" + std::string(tail.substr(1)) + "'");
      e.crash = true;
      e.fault = *fault;
    } else if (tail.starts_with(">") && tail.size() > 1) {
      e.to = std::string(tail.substr(1));
    } else {
      throw bad(token, "expected '>TASK' or '!FAULT' after the occurrence");
    }
    out.entries.push_back(std::move(e));
  }
  return out;
}

Schedule Schedule::from_trace(const Trace& trace) {
  Schedule out;
  detail::Occurrences occurrences;  // the replay strategy's counter, over the same steps
  const auto& names = trace.tasks();
  for (const auto& s : trace.steps()) {
    if (s.kind == StepKind::idle) {
      if (s.next != kNoTask)
        out.entries.push_back(ScheduleEntry{"", "", 0, names[s.next], false, Fault::crash});
      continue;
    }
    const std::uint32_t occurrence = occurrences.count(s.task, s.point);
    if (s.kind == StepKind::crash) {
      out.entries.push_back(
          ScheduleEntry{names[s.task], std::string(s.point), occurrence, "", true, s.fault});
    } else if (s.next != kNoTask && (s.next != s.task || s.kind != StepKind::point)) {
      out.entries.push_back(
          ScheduleEntry{names[s.task], std::string(s.point), occurrence, names[s.next], false, Fault::crash});
    }
  }
  return out;
}

}  // namespace racelab
