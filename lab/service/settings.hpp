// lab/service/settings.hpp — the lab's switches (delay, barrier, strategy) and the hooks they arm
// at the transfer's window.
//
//   Window window;
//   Settings s = settings_from_env();          // DEBUG_DELAY_*, BARRIER_*, USE_TRANSACTIONS
//   s.barrier_enabled = true;
//   window.arm(s, std::chrono::milliseconds(10'000));   // two transfers now meet at transfer.after_read
#pragma once

#include <racelab/hooks.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <memory>

#include "common/strategy.hpp"
#include "service/http.hpp"

namespace lab::service {

struct Settings {
  bool delay_enabled = false;
  int delay_ms = 100;
  bool barrier_enabled = false;
  int barrier_count = 2;
  Strategy strategy = Strategy::unsafe;
};

json settings_json(const Settings& s);
Settings settings_from_env();

// The hooks the settings arm. Not thread-safe: the caller serialises arm() and timeout_count()
// (the service holds its settings mutex); `waiting` is read from any thread.
class Window {
 public:
  // Replacing the scope releases anyone held by the old one (racelab::Hooks is airtight). With both
  // switches off there is no scope, so points cost what a PointLog makes them cost and nothing more.
  void arm(const Settings& settings, std::chrono::milliseconds barrier_timeout);
  std::size_t timeout_count() const { return hooks_ ? hooks_->timeout_count() : 0; }
  int waiting() const { return waiting_.load(); }  // transfers held at the window now

 private:
  std::unique_ptr<racelab::Hooks> hooks_;
  std::atomic<int> waiting_{0};
};

}  // namespace lab::service
