// racelab-run: --strategy dfs:2 --runs 5000
// expect-exit: 1
// expect-output: SIGSEGV
// The reader checks `current` and then loads it again to use it: if main's exchange(nullptr) lands
// between the reader's two loads, the second one is null and the reader dies of SIGSEGV.
#include <atomic>
#include <cstdio>
#include <thread>

namespace {

struct Config {
  int port;
};

std::atomic<Config*> current{nullptr};
int seen_port = 0;

void reader() {
  if (current.load() != nullptr) seen_port = current.load()->port;  // BUG: checks one load, uses another
}

}  // namespace

int main() {
  Config* config = new Config{8080};
  current.store(config);
  std::thread t(reader);
  Config* old = current.exchange(nullptr);  // unload the configuration
  t.join();
  std::printf("reader saw port %d\n", seen_port);
  delete old;
  return 0;
}
