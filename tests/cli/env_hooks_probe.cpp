// Two concurrent transfers of 800 from alice with no hooks in the code: whatever RACELAB_HOOKS arms
// is all that shapes the race. Prints alice's final balance.
#include "bank/bank.hpp"

#include <iostream>
#include <thread>

int main() {
  lab::bank::MemoryLedger ledger;
  lab::bank::Bank bank(ledger);
  std::thread a([&] { bank.transfer("alice", "bob", 800, lab::Strategy::unsafe); });
  std::thread b([&] { bank.transfer("alice", "charlie", 800, lab::Strategy::unsafe); });
  a.join();
  b.join();
  std::cout << "alice " << ledger.balance("alice") << '\n';
}
