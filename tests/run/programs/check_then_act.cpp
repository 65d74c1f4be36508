// racelab-run: --strategy dfs:2 --runs 5000
// expect-exit: 1
// expect-output: overdraft: savings went negative
// withdraw() checks the balance in one critical section and debits it in another: A checks 1000 >= 800
// and is preempted, B checks, debits to 200 and finishes, then A debits on its stale check and leaves -600.
#include <cassert>
#include <cstdio>
#include <map>
#include <mutex>
#include <string>
#include <thread>

namespace {

std::mutex accounts_lock;
std::map<std::string, int> balance{{"savings", 1000}};

bool withdraw(const std::string& account, int amount) {
  bool ok;
  {
    std::lock_guard<std::mutex> lock(accounts_lock);
    ok = balance[account] >= amount;
  }
  // BUG: the lock is dropped here, so the check above may be stale by the time we debit.
  if (!ok) return false;
  std::lock_guard<std::mutex> lock(accounts_lock);
  balance[account] -= amount;
  return true;
}

}  // namespace

int main() {
  std::thread a([] { withdraw("savings", 800); });
  std::thread b([] { withdraw("savings", 800); });
  a.join();
  b.join();
  std::printf("savings = %d\n", balance["savings"]);
  assert(balance["savings"] >= 0 && "overdraft: savings went negative");
  assert(balance["savings"] == 200 && "exactly one withdrawal of 800 succeeds");
  return 0;
}
