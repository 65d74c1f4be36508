// racelab-run: --strategy dfs:2 --runs 20000 --races fail
// expect-exit: 0
// expect-output: every schedule within the bound explored
// push() links the node to the head it saw and publishes it with compare_exchange_weak in a loop, so a
// push that lands in between makes the CAS fail and retry with the new head: no node is lost.
#include <atomic>
#include <cassert>
#include <cstdio>
#include <thread>

namespace {

struct Node {
  int value;
  Node* next;
};

constexpr int kPerThread = 2;
Node pool[2 * kPerThread];  // nodes are never freed or reused, so there is no ABA to worry about
std::atomic<Node*> head{nullptr};

void push(Node* node) {
  Node* old = head.load(std::memory_order_relaxed);
  do {
    node->next = old;
  } while (!head.compare_exchange_weak(old, node, std::memory_order_release, std::memory_order_relaxed));
}

Node* pop() {
  Node* top = head.load(std::memory_order_acquire);
  while (top != nullptr &&
         !head.compare_exchange_weak(top, top->next, std::memory_order_acquire, std::memory_order_acquire)) {
  }
  return top;
}

void pusher(int first) {
  for (int i = 0; i < kPerThread; ++i) {
    Node* node = &pool[first + i];
    node->value = first + i;
    push(node);
  }
}

}  // namespace

int main() {
  std::thread a(pusher, 0);
  std::thread b(pusher, kPerThread);
  a.join();
  b.join();
  int popped = 0;
  int sum = 0;
  while (Node* node = pop()) {
    ++popped;
    sum += node->value;
  }
  std::printf("popped %d of %d\n", popped, 2 * kPerThread);
  assert(popped == 2 * kPerThread && "lost node: popped fewer nodes than were pushed");
  assert(sum == 0 + 1 + 2 + 3);
  return 0;
}
