// 05_unmodified_bank.cpp fixed: the lock is held across the check and the act, so a second
// transfer reads what the first one left. `racelab run` proves it over every schedule within the
// bound:
//
//   racelab run --strategy dfs:2 -- ./run_example_06_unmodified_bank_fixed
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
  std::lock_guard<std::mutex> lock(bank_lock);
  if (balances[from] < amount) return;
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
