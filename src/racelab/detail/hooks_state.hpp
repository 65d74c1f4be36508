// Private to racelab: the entry from the point slow path into the hooks, and the parsed form of a
// hook spec (RACELAB_HOOKS and Hooks::arm).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "racelab/fault.hpp"

namespace racelab::detail {

// Runs every armed hook action bound to `name` on the calling thread. Called by fire(). Returns the
// fault an armed Hooks::fault chose here, among those the point `offered`.
std::optional<Fault> run_point_hooks(std::string_view name, FaultSet offered);

struct HookSpecEntry {
  enum class Kind { delay, barrier, order, fault };
  std::string point;
  Kind kind = Kind::delay;
  std::chrono::nanoseconds duration{0};  // delay: the sleep; barrier/order: the timeout (0 = default)
  int count = 0;                         // barrier
  std::string first;                     // order: the point that must be passed first
  Fault fault = Fault::crash;            // fault: which
  std::int64_t times = 1;                // fault: how many hits it fails (-1: every one)
};

// Parses "point=delay:200ms;point=barrier:2:5s;then=order:first[:timeout];sql.commit=fault:busy[:n]".
// Throws HookSpecError.
std::vector<HookSpecEntry> parse_hook_spec(std::string_view spec);

// Parses "250ms", "5s", "100us", "10ns", "2m". Throws HookSpecError mentioning `what`.
std::chrono::nanoseconds parse_duration(std::string_view text, std::string_view what);

}  // namespace racelab::detail
