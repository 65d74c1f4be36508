// racelab-run: --strategy dfs:2 --runs 5000
// expect-exit: 1
// expect-output: lost node: popped fewer nodes than were pushed
// push() loads head and stores the new node as two separate atomic operations instead of a CAS loop:
// A loads head (null) and is preempted, B pushes both its nodes, then A's store overwrites head and B's nodes
// are lost.
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
  node->next = head.load();  // BUG: another push can land between this load ...
  head.store(node);          // ... and this store, which then drops it
}

Node* pop() {
  Node* top = head.load();
  while (top != nullptr && !head.compare_exchange_weak(top, top->next)) {
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
  while (pop() != nullptr) ++popped;
  std::printf("popped %d of %d\n", popped, 2 * kPerThread);
  assert(popped == 2 * kPerThread && "lost node: popped fewer nodes than were pushed");
  return 0;
}
