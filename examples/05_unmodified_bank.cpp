// Code as it is: a bank with std::thread, std::mutex and a std::map, no racelab types and no points.
// CMake builds it with racelab_instrument(run_example_05_unmodified_bank); `racelab run` then finds
// the double spend:
//
//   racelab run --strategy dfs:2 -- ./run_example_05_unmodified_bank
//
// On its own it runs as it always did (and usually gets away with it).
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <string>
#include <thread>

namespace {

std::mutex bank_lock;
std::map<std::string, long> balances{{"alice", 1000}, {"bob", 500}, {"charlie", 200}};

void transfer(const std::string& from, const std::string& to, long amount) {
  long available;
  {
    std::lock_guard<std::mutex> lock(bank_lock);
    available = balances[from];
  }
  if (available < amount) return;  // BUG: the lock is dropped between the check and the act
  std::lock_guard<std::mutex> lock(bank_lock);
  balances[from] -= amount;
  balances[to] += amount;
}

}  // namespace

int main() {
  std::thread t1([] { transfer("alice", "bob", 800); });
  std::thread t2([] { transfer("alice", "charlie", 800); });
  t1.join();
  t2.join();
  std::printf("alice: %ld\n", balances["alice"]);
  if (balances["alice"] < 0) {  // not assert(): a release build (NDEBUG) must check too
    std::fprintf(stderr, "double spend: alice is negative\n");
    std::abort();
  }
  return 0;
}
