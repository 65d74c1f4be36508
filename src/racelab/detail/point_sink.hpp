// Private to racelab: where an armed point goes when a scheduler owns the running code.
//
// The seam (point.cpp) knows no scheduler. A scheduler that runs code on this OS thread (the
// simulation, while one of its tasks runs) installs itself as the thread's sink; fire() then hands
// the point to it instead of running the real-thread hooks.
#pragma once

#include <optional>
#include <string_view>

#include "racelab/fault.hpp"

namespace racelab::detail {

class PointSink {
 public:
  virtual void on_point(std::string_view point) = 0;
  // A point offering faults: the one to produce here, if any (a crash is thrown instead).
  virtual std::optional<Fault> on_fault_point(std::string_view point, FaultSet offered) = 0;

 protected:
  ~PointSink() = default;
};

// Thread-local; returns the previous sink. nullptr: points run the real-thread hooks.
PointSink* exchange_point_sink(PointSink* sink) noexcept;

}  // namespace racelab::detail
