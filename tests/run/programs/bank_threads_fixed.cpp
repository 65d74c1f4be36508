// racelab-run: --strategy dfs:3 --runs 20000 --races fail
// expect-exit: 0
// expect-output: every schedule within the bound explored
// transfer() holds the lock across the check and the debit/credit, so the second transfer of 800 always
// sees alice at 200 and is refused: alice never goes negative and the total stays 1700.
#include <cassert>
#include <cstdio>
#include <map>
#include <mutex>
#include <string>
#include <thread>

namespace {

std::mutex bank_lock;
std::map<std::string, long> balances{{"alice", 1000}, {"bob", 500}, {"charlie", 200}};

bool transfer(const std::string& from, const std::string& to, long amount) {
  std::lock_guard<std::mutex> lock(bank_lock);
  if (balances[from] < amount) return false;
  balances[from] -= amount;
  balances[to] += amount;
  return true;
}

}  // namespace

int main() {
  std::thread t1([] { transfer("alice", "bob", 800); });
  std::thread t2([] { transfer("alice", "charlie", 800); });
  t1.join();
  t2.join();
  long total = 0;
  for (const auto& [name, balance] : balances) {
    std::printf("%s: %ld\n", name.c_str(), balance);
    total += balance;
  }
  assert(balances["alice"] >= 0 && "double spend: alice is negative");
  assert(balances["alice"] == 200 && "exactly one transfer of 800 succeeds");
  assert(total == 1700 && "money created or destroyed");
  return 0;
}
