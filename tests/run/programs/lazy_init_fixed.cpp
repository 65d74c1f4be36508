// racelab-run: --strategy dfs:2 --runs 20000 --races fail
// expect-exit: 0
// expect-output: every schedule within the bound explored
// `instance` is a std::atomic<Widget*>: the fast path loads it with acquire and the initialiser stores it
// with release after constructing the Widget (and the lock orders the slow path), so there is no data race.
#include <atomic>
#include <cassert>
#include <cstdio>
#include <mutex>
#include <thread>

namespace {

struct Widget {
  explicit Widget(int v) : value(v) {}
  int value;
};

std::atomic<Widget*> instance{nullptr};
std::mutex init_lock;

int widget_value() {
  Widget* w = instance.load(std::memory_order_acquire);
  if (w == nullptr) {
    std::lock_guard<std::mutex> lock(init_lock);
    w = instance.load(std::memory_order_relaxed);
    if (w == nullptr) {
      w = new Widget(42);
      instance.store(w, std::memory_order_release);
    }
  }
  return w->value;
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
  delete instance.load();
  return 0;
}
