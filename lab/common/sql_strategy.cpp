#include "common/sql_strategy.hpp"

#include <map>
#include <memory>
#include <mutex>
#include <string>

namespace lab {

racelab::mutex& process_lock(const char* name) {
  static std::mutex mu;
  static std::map<std::string, std::unique_ptr<racelab::mutex>> locks;
  std::lock_guard lk(mu);
  auto& m = locks[name];
  if (!m) m = std::make_unique<racelab::mutex>(name);
  return *m;
}

}  // namespace lab
