// Example 4: happens-before between named points (RocksDB's sync-point dependencies). The reader
// reaches "cache.read" first, but waits until the writer has passed "cache.written".
#include <racelab/racelab.hpp>

#include <iostream>
#include <string>
#include <thread>

int main() {
  racelab::Hooks hooks;
  hooks.order("cache.written", "cache.read");
  std::string value = "stale", seen;
  std::thread reader([&] {
    RACELAB_POINT("cache.read");
    seen = value;
  });
  std::thread writer([&] {
    value = "fresh";
    RACELAB_POINT("cache.written");
  });
  reader.join();
  writer.join();
  std::cout << "reader saw '" << seen << "'\n";
  return seen == "fresh" && hooks.timeout_count() == 0 ? 0 : 1;
}
