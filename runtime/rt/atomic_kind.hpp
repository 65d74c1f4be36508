// AtomicKind: what an atomic operation does, carried in wire::Request::arg0 of an Op::atomic_op
// scheduling point so the driver can name the point ("atomic fetch_add") without a symbolizer.
//
//   access_point(wire::Op::atomic_op, pc, addr, static_cast<std::uint64_t>(AtomicKind::fetch_add));
//   ...
//   std::printf("%s at %p\n", atomic_kind_name(request.arg0), addr);  // "atomic fetch_add at 0x..."
//
// The numbers are part of the wire: append new kinds, never renumber.
#pragma once

#include <cstdint>

namespace racelab::rt {

enum class AtomicKind : std::uint32_t {
  load = 0,
  store = 1,
  exchange = 2,
  fetch_add = 3,
  fetch_sub = 4,
  fetch_and = 5,
  fetch_or = 6,
  fetch_xor = 7,
  fetch_nand = 8,
  cas = 9,  // compare_exchange_strong, _weak and _val
};

inline constexpr std::uint32_t kAtomicKindCount = 10;

// A point name for `kind` ("atomic load", ...); "atomic operation" for a number this build does
// not know (a newer runtime talking to an older driver).
constexpr const char* atomic_kind_name(std::uint64_t kind) noexcept {
  constexpr const char* kNames[kAtomicKindCount] = {
      "atomic load",       "atomic store",
      "atomic exchange",   "atomic fetch_add",
      "atomic fetch_sub",  "atomic fetch_and",
      "atomic fetch_or",   "atomic fetch_xor",
      "atomic fetch_nand", "atomic compare_exchange",
  };
  return kind < kAtomicKindCount ? kNames[kind] : "atomic operation";
}

}  // namespace racelab::rt
