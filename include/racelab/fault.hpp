// racelab/fault.hpp — faults at a boundary: a point that can fail the way the real system fails.
//
// A plain point can crash (racelab::InjectedCrash, thrown from the point). A point that stands for
// a call across a boundary — each statement of racelab's database adapters — offers more: the
// connection lost before the statement reached the server, lost after COMMIT was sent (the outcome
// unknown to the caller: it did commit), a statement timeout, a deadlock victim, a serialization
// failure, a lock wait past its timeout. The code at the point says which it offers and turns the
// chosen one into the error its real driver gives (docs/faults.md), so the code under test sees
// exactly what production would.
//
// Who chooses: in a simulation, the strategy, like a crash — seeded, one more choice at the point
// for `dfs`, `TASK@POINT#N!deadlock` in a schedule (SimOptions::crash_probability, crash_points and
// faults). On real threads, a `Hooks::fault` action or RACELAB_HOOKS (`sql.commit=fault:lost_after_commit`).
//
//   racelab::Point commit("sql.commit");
//   if (auto f = commit.hit_or_fault({racelab::Fault::lost_before, racelab::Fault::lost_after_commit}))
//     ...;   // *f says which; a crash was thrown instead of returned
#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>

namespace racelab {

enum class Fault : std::uint8_t {
  crash,              // the task dies here (InjectedCrash)
  lost_before,        // the connection drops before the call reaches the other side
  lost_after_commit,  // the call (a COMMIT) took effect, then the connection dropped: outcome unknown
  timeout,            // the call ran past its timeout and was cancelled
  deadlock,           // chosen as a deadlock victim; the transaction is rolled back
  serialization,      // a serialization failure; the transaction is rolled back
  busy,               // a lock stayed held past the lock (busy) timeout
};
inline constexpr int kFaultKinds = 7;

std::string_view to_string(Fault fault);
std::optional<Fault> parse_fault(std::string_view name);
// "crash, lost_before, …": every name, for messages.
std::string fault_names();

// A set of faults.
class FaultSet {
 public:
  constexpr FaultSet() = default;
  constexpr FaultSet(std::initializer_list<Fault> faults) {
    for (Fault f : faults) bits_ |= bit(f);
  }
  static constexpr FaultSet all() { return from_bits((1u << kFaultKinds) - 1); }
  // "lost_after_commit,deadlock", or "all"; throws std::invalid_argument naming an unknown name.
  static FaultSet parse(std::string_view list);
  constexpr bool contains(Fault f) const { return (bits_ & bit(f)) != 0; }
  constexpr bool empty() const { return bits_ == 0; }
  constexpr FaultSet operator&(FaultSet o) const { return from_bits(bits_ & o.bits_); }
  constexpr FaultSet without(Fault f) const { return from_bits(bits_ & ~bit(f)); }
  constexpr FaultSet with(Fault f) const { return from_bits(bits_ | bit(f)); }
  std::string text() const;  // "lost_before,timeout"
  friend constexpr bool operator==(FaultSet, FaultSet) = default;

 private:
  static constexpr std::uint32_t bit(Fault f) { return 1u << static_cast<unsigned>(f); }
  static constexpr FaultSet from_bits(std::uint32_t bits) {
    FaultSet s;
    s.bits_ = bits;
    return s;
  }
  std::uint32_t bits_ = 0;
};

}  // namespace racelab
