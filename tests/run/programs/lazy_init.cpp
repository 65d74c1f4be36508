// racelab-run: --strategy dfs:2 --runs 5000 --races fail
// expect-exit: 1
// expect-output: data race
// Double-checked locking on a plain pointer: A creates the Widget and stores `instance` under the lock,
// while B's first `if (!instance)` and its `instance->value` read it with no lock, unordered with A's writes.
// That is a data race in every interleaving (B may see the pointer before the Widget's fields), and --races
// fail makes it the bug.
#include <cassert>
#include <cstdio>
#include <mutex>
#include <thread>

namespace {

struct Widget {
  explicit Widget(int v) : value(v) {}
  int value;
};

Widget* instance = nullptr;
std::mutex init_lock;

int widget_value() {
  if (instance == nullptr) {  // BUG: a plain read of `instance` outside the lock
    std::lock_guard<std::mutex> lock(init_lock);
    if (instance == nullptr) instance = new Widget(42);
  }
  return instance->value;  // and the Widget it points to may not be published to this thread
}

}  // namespace

int main() {
  int a = 0;
  int b = 0;
  std::thread t1([&a] { a = widget_value(); });
  std::thread t2([&b] { b = widget_value(); });
  t1.join();
  t2.join();
  std::printf("a = %d, b = %d\n", a, b);
  assert(a == 42 && b == 42);
  delete instance;
  return 0;
}
