#include "service/settings.hpp"

#include <algorithm>
#include <cstdlib>
#include <string>

namespace lab::service {
namespace {

bool env_flag(const char* name, bool fallback) {
  const char* v = std::getenv(name);
  if (v == nullptr) return fallback;
  std::string s(v);
  return s == "1" || s == "true" || s == "True" || s == "yes";
}

int env_int(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::atoi(v) : fallback;
}

}  // namespace

json settings_json(const Settings& s) {
  return {{"delay_enabled", s.delay_enabled},
          {"delay_ms", s.delay_ms},
          {"barrier_enabled", s.barrier_enabled},
          {"barrier_count", s.barrier_count},
          {"use_transactions", s.strategy != Strategy::unsafe},
          {"strategy", std::string(to_string(s.strategy))}};
}

Settings settings_from_env() {
  Settings s;
  s.delay_enabled = env_flag("DEBUG_DELAY_ENABLED", false);
  s.delay_ms = env_int("DEBUG_DELAY_MS", 100);
  s.barrier_enabled = env_flag("BARRIER_ENABLED", false);
  s.barrier_count = std::max(1, env_int("BARRIER_COUNT", 2));
  s.strategy = env_flag("USE_TRANSACTIONS", false) ? Strategy::mutex : Strategy::unsafe;
  return s;
}

void Window::arm(const Settings& settings, std::chrono::milliseconds barrier_timeout) {
  hooks_.reset();
  if (!settings.barrier_enabled && !settings.delay_enabled) return;  // nothing to hold: no scope at all
  auto h = std::make_unique<racelab::Hooks>();
  h->before("transfer.after_read", [this] { ++waiting_; }).always();
  h->after("transfer.after_read", [this] { --waiting_; }).always();
  if (settings.barrier_enabled) h->barrier("transfer.after_read", settings.barrier_count, barrier_timeout);
  // The delay widens every window: after the first read, and after the read a safe strategy
  // repeats inside its critical section (where an in-process lock is all `mutex` has).
  if (settings.delay_enabled) {
    h->delay("transfer.after_read", std::chrono::milliseconds(settings.delay_ms));
    h->delay("transfer.after_locked_read", std::chrono::milliseconds(settings.delay_ms));
  }
  hooks_ = std::move(h);
}

}  // namespace lab::service
