// racelab-run: --strategy dfs:2 --runs 20000 --races fail
// expect-exit: 0
// expect-output: every schedule within the bound explored
// Both functions take the two mutexes with std::scoped_lock, whose std::lock algorithm (lock one,
// try_lock the other, back off on failure) cannot deadlock whatever order the arguments are in.
#include <cassert>
#include <cstdio>
#include <mutex>
#include <thread>

namespace {

std::mutex a_lock;
std::mutex b_lock;
int a_total = 100;
int b_total = 100;

void move_a_to_b(int amount) {
  std::scoped_lock both(a_lock, b_lock);
  a_total -= amount;
  b_total += amount;
}

void move_b_to_a(int amount) {
  std::scoped_lock both(b_lock, a_lock);  // the opposite order is fine here
  b_total -= amount;
  a_total += amount;
}

}  // namespace

int main() {
  std::thread t1(move_a_to_b, 10);
  std::thread t2(move_b_to_a, 20);
  t1.join();
  t2.join();
  std::printf("a = %d, b = %d\n", a_total, b_total);
  assert(a_total + b_total == 200 && "money created or destroyed");
  assert(a_total == 110 && b_total == 90);
  return 0;
}
