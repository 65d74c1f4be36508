// Example 1: reproduce a lost update in a single thread by running a second increment right after
// the first one's read (Python's before_after, in C++). Exits 0 when the bug shows up as expected.
#include <racelab/racelab.hpp>

#include <iostream>

struct Store {
  int count = 0;
  int get() { return count; }
  void set(int value) { count = value; }
};

void increment(Store& store) {
  int count = RACELAB_CALL("example.get", store.get());  // fires example.get:before / :after
  store.set(count + 1);
}

int main() {
  Store store;
  racelab::Hooks hooks;
  hooks.after("example.get", [&] { increment(store); });  // once, like before_after
  increment(store);
  hooks.expect_hit("example.get:after", 2);  // both reads really happened
  std::cout << "two increments, count = " << store.count << " (an update was lost)\n";
  return store.count == 1 ? 0 : 1;
}
