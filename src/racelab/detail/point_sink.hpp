// Private to racelab: where an armed point goes when a scheduler owns the running code.
//
// The seam (point.cpp) knows no scheduler. A scheduler that runs code on this OS thread (the
// simulation, while one of its tasks runs) installs itself as the thread's sink; fire() then hands
// the point to it instead of running the real-thread hooks.
#pragma once

#include <string_view>

namespace racelab::detail {

class PointSink {
 public:
  virtual void on_point(std::string_view point) = 0;

 protected:
  ~PointSink() = default;
};

// Thread-local; returns the previous sink. nullptr: points run the real-thread hooks.
PointSink* exchange_point_sink(PointSink* sink) noexcept;

}  // namespace racelab::detail
