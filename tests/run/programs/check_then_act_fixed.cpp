// racelab-run: --strategy dfs:2 --runs 20000 --races fail
// expect-exit: 0
// expect-output: every schedule within the bound explored
// withdraw() holds one lock across the check and the debit, so the second withdrawal always sees the
// first one's debit (200 < 800) and is refused: savings ends at 200 in every interleaving.
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
  std::lock_guard<std::mutex> lock(accounts_lock);
  if (balance[account] < amount) return false;
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
