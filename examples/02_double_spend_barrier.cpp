// Example 2: force a check-then-act double-spend with a barrier of 2 at the race window, then show
// that a lock taken after the window holds with the same barrier armed.
#include <racelab/racelab.hpp>

#include <atomic>
#include <iostream>
#include <mutex>
#include <thread>

struct Account {
  std::atomic<long> balance{1000};
  std::mutex mu;

  bool withdraw(long amount, bool locked) {
    long seen = balance.load();
    RACELAB_POINT("account.after_read");  // outside the lock: both threads can reach it
    std::unique_lock lock(mu, std::defer_lock);
    if (locked) {
      lock.lock();
      seen = balance.load();  // re-check what is true now
    }
    if (seen < amount) return false;
    balance -= amount;
    return true;
  }
};

long race(bool locked) {
  Account account;
  std::thread a([&] { account.withdraw(800, locked); });
  std::thread b([&] { account.withdraw(800, locked); });
  a.join();
  b.join();
  return account.balance;
}

int main() {
  racelab::Hooks hooks;
  hooks.barrier("account.after_read", 2);
  long unsafe = race(false), safe = race(true);
  std::cout << "unsafe: balance " << unsafe << ", locked: balance " << safe << ", barrier timeouts "
            << hooks.timeout_count() << '\n';
  return unsafe == -600 && safe == 200 && hooks.timeout_count() == 0 ? 0 : 1;
}
