// lab/common/strategy.hpp — the concurrency-control strategies, named the same everywhere
// (CLI, HTTP API, tests, metrics labels, docs).
//
//   auto s = lab::parse_strategy("mutex");          // std::optional<lab::Strategy>
//   std::cout << lab::to_string(*s);                // "mutex"
//
// Not every strategy applies to every scenario and store; a scenario that cannot honour one
// throws StrategyNotApplicable instead of silently running another.
#pragma once

#include <array>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace lab {

enum class Strategy { unsafe, mutex, pessimistic, nowait, optimistic, atomic, constraint, serializable };

inline constexpr std::array kAllStrategies{Strategy::unsafe,     Strategy::mutex,       Strategy::pessimistic,
                                           Strategy::nowait,     Strategy::optimistic,  Strategy::atomic,
                                           Strategy::constraint, Strategy::serializable};

constexpr std::string_view to_string(Strategy s) {
  switch (s) {
    case Strategy::unsafe: return "unsafe";
    case Strategy::mutex: return "mutex";
    case Strategy::pessimistic: return "pessimistic";
    case Strategy::nowait: return "nowait";
    case Strategy::optimistic: return "optimistic";
    case Strategy::atomic: return "atomic";
    case Strategy::constraint: return "constraint";
    case Strategy::serializable: return "serializable";
  }
  return "?";
}

constexpr std::optional<Strategy> parse_strategy(std::string_view name) {
  for (auto s : kAllStrategies)
    if (to_string(s) == name) return s;
  return std::nullopt;
}

class StrategyNotApplicable : public std::invalid_argument {
 public:
  StrategyNotApplicable(Strategy s, std::string_view where)
      : std::invalid_argument("strategy '" + std::string(to_string(s)) + "' does not apply to " +
                              std::string(where)) {}
};

}  // namespace lab
