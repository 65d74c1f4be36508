// racelab-run: --strategy dfs:2 --runs 20000 --races fail
// expect-exit: 0
// expect-output: every schedule within the bound explored
// The reader loads `current` once into a local and uses only that, and main frees the Config only after
// joining the reader, so the reader sees either the whole Config or null.
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
  Config* config = current.load();
  if (config != nullptr) seen_port = config->port;
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
