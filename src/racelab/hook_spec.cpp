// Parsing of hook specs: RACELAB_HOOKS and Hooks::arm. Every error names the offending part.
#include <charconv>
#include <cstdint>

#include "racelab/detail/hooks_state.hpp"
#include "racelab/hooks.hpp"

namespace racelab::detail {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\n')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\n')) s.remove_suffix(1);
  return s;
}

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> parts;
  for (;;) {
    auto at = s.find(sep);
    parts.push_back(s.substr(0, at));
    if (at == std::string_view::npos) return parts;
    s.remove_prefix(at + 1);
  }
}

[[noreturn]] void fail(std::string_view entry, const std::string& why) {
  throw HookSpecError("racelab hook spec: in '" + std::string(entry) + "': " + why +
                      " (expected POINT=delay:DURATION, POINT=barrier:COUNT[:TIMEOUT] or "
                      "POINT=order:FIRST_POINT[:TIMEOUT] or POINT=fault:KIND[:TIMES|always]; entries "
                      "separated by ';')");
}

bool valid_point_name(std::string_view name) {
  if (name.empty()) return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
              c == '_' || c == '-' || c == '/';
    if (!ok) return false;
  }
  return true;
}

HookSpecEntry parse_entry(std::string_view entry) {
  auto eq = entry.find('=');
  if (eq == std::string_view::npos) fail(entry, "missing '=' between the point and the action");
  HookSpecEntry out;
  out.point = std::string(trim(entry.substr(0, eq)));
  // A point name may carry a RACELAB_CALL suffix such as ":before"; check the base name.
  std::string_view base = out.point;
  if (auto colon = base.rfind(':'); colon != std::string_view::npos) {
    auto suffix = base.substr(colon + 1);
    if (suffix != "before" && suffix != "after") fail(entry, "bad point name '" + out.point + "'");
    base = base.substr(0, colon);
  }
  if (!valid_point_name(base)) fail(entry, "bad point name '" + out.point + "'");

  auto fields = split(trim(entry.substr(eq + 1)), ':');
  std::string_view verb = trim(fields[0]);
  auto arity = [&](std::size_t lo, std::size_t hi) {
    if (fields.size() < lo || fields.size() > hi) {
      // Appended piece by piece: GCC 12 at -O3 reports a false -Wrestrict inside the inlined
      // operator+(const char*, std::string&&).
      std::string what = "'";
      what.append(verb).append("' takes ").append(std::to_string(lo - 1));
      if (hi > lo) what.append(" or ").append(std::to_string(hi - 1));
      fail(entry, what.append(" argument(s)"));
    }
  };
  if (verb == "delay") {
    arity(2, 2);
    out.kind = HookSpecEntry::Kind::delay;
    out.duration = parse_duration(trim(fields[1]), entry);
  } else if (verb == "barrier") {
    arity(2, 3);
    out.kind = HookSpecEntry::Kind::barrier;
    auto text = trim(fields[1]);
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), out.count);
    if (ec != std::errc() || ptr != text.data() + text.size() || out.count < 1)
      fail(entry, "barrier count '" + std::string(text) + "' is not a positive integer");
    if (fields.size() == 3) out.duration = parse_duration(trim(fields[2]), entry);
  } else if (verb == "order") {
    arity(2, 3);
    out.kind = HookSpecEntry::Kind::order;
    out.first = std::string(trim(fields[1]));
    if (!valid_point_name(out.first)) fail(entry, "bad point name '" + out.first + "'");
    if (fields.size() == 3) out.duration = parse_duration(trim(fields[2]), entry);
  } else if (verb == "fault") {
    arity(2, 3);
    out.kind = HookSpecEntry::Kind::fault;
    auto kind = trim(fields[1]);
    auto fault = parse_fault(kind);
    if (!fault) fail(entry, "unknown fault '" + std::string(kind) + "' (known: " + fault_names() + ")");
    out.fault = *fault;
    if (fields.size() == 3) {
      auto text = trim(fields[2]);
      if (text == "always") {
        out.times = -1;
      } else {
        auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), out.times);
        if (ec != std::errc() || ptr != text.data() + text.size() || out.times < 1)
          fail(entry, "fault count '" + std::string(text) + "' is not a positive integer or 'always'");
      }
    }
  } else {
    fail(entry, "unknown action '" + std::string(verb) + "'");
  }
  return out;
}

}  // namespace

std::chrono::nanoseconds parse_duration(std::string_view text, std::string_view what) {
  std::int64_t value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  std::string_view unit(ptr, static_cast<std::size_t>(text.data() + text.size() - ptr));
  auto bad = [&](const std::string& why) -> std::chrono::nanoseconds {
    fail(what, "duration '" + std::string(text) + "' " + why);
  };
  if (ec == std::errc::result_out_of_range) return bad("is too large");
  if (ec != std::errc() || ptr == text.data()) return bad("does not start with a number");
  if (value < 0) return bad("is negative");
  constexpr std::int64_t kDayNs = std::int64_t{24} * 3600 * 1'000'000'000;
  std::int64_t ns_per_unit = 0;
  if (unit == "ns")
    ns_per_unit = 1;
  else if (unit == "us")
    ns_per_unit = 1'000;
  else if (unit == "ms")
    ns_per_unit = 1'000'000;
  else if (unit == "s")
    ns_per_unit = 1'000'000'000;
  else if (unit == "m")
    ns_per_unit = 60'000'000'000;
  else
    return bad("needs a unit: ns, us, ms, s or m");
  if (value > kDayNs / ns_per_unit) return bad("is longer than a day");
  return std::chrono::nanoseconds(value * ns_per_unit);
}

std::vector<HookSpecEntry> parse_hook_spec(std::string_view spec) {
  std::vector<HookSpecEntry> entries;
  for (auto part : split(spec, ';')) {
    part = trim(part);
    if (part.empty()) continue;
    entries.push_back(parse_entry(part));
  }
  return entries;
}

}  // namespace racelab::detail
