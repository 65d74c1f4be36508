// racelab-run: --strategy dfs:2 --runs 5000
// expect-exit: 1
// expect-output: deadlock
// move_a_to_b() locks a then b while move_b_to_a() locks b then a: A takes a and is preempted, B takes b
// and blocks on a, A blocks on b, and no thread can run (main is waiting in join).
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
  std::lock_guard<std::mutex> first(a_lock);
  std::lock_guard<std::mutex> second(b_lock);
  a_total -= amount;
  b_total += amount;
}

void move_b_to_a(int amount) {
  std::lock_guard<std::mutex> first(b_lock);  // BUG: the opposite order to move_a_to_b()
  std::lock_guard<std::mutex> second(a_lock);
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
  return 0;
}
