// racelab-run: --strategy dfs:2 --runs 5000
// expect-exit: 1
// expect-output: double spend: alice is negative
// transfer() reads the balance under the lock, drops it, checks, then locks again to debit and credit:
// T1 reads alice = 1000 and is preempted, T2 moves 800 to charlie, then T1 moves 800 to bob on its stale read
// and alice ends at -600.
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
  long available;
  {
    std::lock_guard<std::mutex> lock(bank_lock);
    available = balances[from];
  }
  // BUG: the lock is dropped between the check and the act.
  if (available < amount) return false;
  std::lock_guard<std::mutex> lock(bank_lock);
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
  assert(total == 1700 && "money created or destroyed");
  return 0;
}
