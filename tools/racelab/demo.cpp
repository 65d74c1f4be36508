// `racelab demo`: the walk-through a newcomer runs first. Each chapter shows a race, forces it,
// then shows the fix holding under the same forcing. The demo checks what it shows: a chapter
// that does not come out as narrated makes the demo exit 1.
#include <unistd.h>
#include <racelab/explore.hpp>
#include <racelab/hooks.hpp>

#include <chrono>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "bank/bank.hpp"
#include "common/db.hpp"
#include "counter/counter.hpp"
#include "inventory/inventory.hpp"
#include "narrator.hpp"
#include "server_process.hpp"
#include "session.hpp"
#include "sqlcase/explore.hpp"
#include "verbs.hpp"

namespace racelab::cli {
namespace {

using lab::Strategy;
using Clock = std::chrono::steady_clock;

std::string ms_since(Clock::time_point start) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
  return std::to_string(ms) + " ms";
}

struct Tally {
  int runs = 0, negative = 0, correct = 0;
  std::string text() const {
    std::ostringstream out;
    out << "alice negative in " << negative << "/" << runs << " runs, alice 200 in " << correct << "/"
        << runs;
    return out.str();
  }
};

Tally double_spend_runs(Strategy strategy, int runs) {
  Tally t;
  for (int i = 0; i < runs; ++i) {
    auto out = lab::bank::run_double_spend(strategy);
    ++t.runs;
    t.negative += out.alice < 0;
    t.correct += out.alice == 200 && out.succeeded == 1;
  }
  return t;
}

void counter_chapter(Narrator& n, const std::filesystem::path& dir) {
  using namespace lab::counter;
  n.chapter("Lost update on a SQLite counter, reproduced in one thread");
  n.say("increment() reads the count, adds one, writes it back. Run a whole second increment");
  n.say("right after the first one's read, the way Python's before_after does:");
  n.code("hooks.after(\"counter.get_count\", [&] { increment(db); });");
  n.code("increment(db);");
  auto path = (dir / "counter.db").string();
  {
    SqliteCounter db(path);
    db.reset();
    racelab::Hooks hooks;
    hooks.after("counter.get_count", [&] { increment(db); });
    increment(db);
    auto count = db.get_count();
    n.result(count == 1,
             "two increments ran, the count is " + std::to_string(count) + ": one update was lost");
  }
  n.say("Fix 1: a lock row. The nested increment now meets a held lock:");
  {
    SqliteCounter db(path);
    db.reset();
    racelab::Hooks hooks;
    std::string intruder = "got in";
    hooks.after("counter.get_count", [&] {
      try {
        locking_increment(db);
      } catch (const CouldNotLock& e) {
        intruder = std::string("was refused: ") + e.what();
      }
    });
    locking_increment(db);
    auto count = db.get_count();
    n.result(count == 1 && intruder != "got in", "the second increment " + intruder + "; count " +
                                                     std::to_string(count) +
                                                     " — no corruption, but an increment is dropped");
  }
  n.say("Fix 2: retry on CouldNotLock. Two real threads; B tries only while A holds the lock, and A");
  n.say("releases only after B was refused (two happens-before edges between named points):");
  n.code("hooks.order(\"counter.lock_acquired\", \"counter.lock_attempt\").on_thread(\"B\");");
  n.code("hooks.order(\"counter.lock_busy\", \"counter.lock_release\").on_thread(\"A\");");
  {
    SqliteCounter(path).reset();
    racelab::Hooks hooks;
    hooks.order("counter.lock_acquired", "counter.lock_attempt").on_thread("B");
    hooks.order("counter.lock_busy", "counter.lock_release").on_thread("A");
    std::thread a([&] {
      racelab::set_thread_label("A");
      SqliteCounter db(path);
      locking_increment(db);
    });
    std::thread b([&] {
      racelab::set_thread_label("B");
      SqliteCounter db(path);
      retrying_locking_increment(db, 50);
    });
    a.join();
    b.join();
    auto count = SqliteCounter(path).get_count();
    n.result(count == 2 && hooks.hits("counter.lock_busy") >= 1,
             "B was refused " + std::to_string(hooks.hits("counter.lock_busy")) +
                 " time(s), retried, and the count is " + std::to_string(count));
  }
}

void bank_chapter(Narrator& n, int runs) {
  n.chapter("Double-spend in the Lab 21 bank (alice 1000; two transfers of 800 at once)");
  n.say("transfer() reads alice's balance, checks it, then debits. Without help the window is");
  n.say("nanoseconds wide:");
  auto start = Clock::now();
  auto plain = double_spend_runs(Strategy::unsafe, runs);
  n.result(true, "no hooks: " + plain.text() + " (" + ms_since(start) + ") — rare, so it hides in tests");
  n.say("Widen the window with a debug delay at the point between check and act:");
  n.code("hooks.delay(\"transfer.after_read\", 5ms);");
  {
    racelab::Hooks hooks;
    hooks.delay("transfer.after_read", std::chrono::milliseconds(5));
    start = Clock::now();
    auto t = double_spend_runs(Strategy::unsafe, runs / 5);
    n.result(t.negative > 0, "delay: " + t.text() + " (" + ms_since(start) + ") — likely, not certain");
  }
  n.say("Force it with a barrier: both transfers must have read before either may go on:");
  n.code("hooks.barrier(\"transfer.after_read\", 2);");
  {
    racelab::Hooks hooks;
    hooks.barrier("transfer.after_read", 2);
    start = Clock::now();
    auto t = double_spend_runs(Strategy::unsafe, runs);
    n.result(t.negative == runs && hooks.timeout_count() == 0,
             "barrier: " + t.text() + " (" + ms_since(start) + ") — every time, no delay needed");
    n.say("Fix: the `mutex` strategy re-checks the balance inside a lock. Same barrier, still armed:");
    start = Clock::now();
    auto fixed = double_spend_runs(Strategy::mutex, runs);
    n.result(fixed.correct == runs && hooks.timeout_count() == 0,
             "mutex: " + fixed.text() + ", " + std::to_string(hooks.timeout_count()) + " barrier timeouts (" +
                 ms_since(start) + ")");
  }
  n.say("Rule: the window point sits before the critical section, where both threads can reach it.");
  n.say("A barrier inside a section only one thread can enter would wait out its timeout.");
}

void inventory_chapter(Narrator& n, int iterations) {
  n.chapter("Overselling the last items (the Rails test: 4 customers, 3 items)");
  n.say("racelab::stress() starts 4 threads, holds them at a gate, releases them together:");
  n.code("racelab::stress({.threads = 4, .iterations = N}, setup, buy, not_oversold);");
  auto report = lab::inventory::rush(Strategy::unsafe, iterations);
  n.result(true, "unsafe, no hooks: " + report.summary());
  {
    racelab::Hooks hooks;
    hooks.delay("inventory.after_read", std::chrono::milliseconds(1));
    auto widened = lab::inventory::rush(Strategy::unsafe, iterations / 4);
    n.result(widened.violations() > 0, "unsafe, 1 ms window: " + widened.summary());
  }
  racelab::Hooks hooks;
  hooks.barrier("inventory.after_read", 4);
  auto forced = lab::inventory::rush(Strategy::unsafe, iterations / 4);
  n.result(forced.violations() == forced.iterations(), "unsafe, barrier(4): " + forced.summary());
  auto fixed = lab::inventory::rush(Strategy::mutex, iterations);
  n.result(fixed.ok(), "mutex, barrier(4) still armed: " + fixed.summary());
}

void simulation_chapter(Narrator& n) {
  n.chapter("Search instead of force: the deterministic scheduler finds the double-spend by itself");
  n.say("No hooks this time. The two transfers run as tasks on one thread; at every point a seeded");
  n.say("scheduler picks who runs next. explore() tries schedules until an invariant breaks:");
  n.code(
      "racelab::explore({.runs = 1000}, [&](racelab::Simulation& sim) { spawn A, B; sim.run(); "
      "RACELAB_ASSERT(alice >= 0); });");
  auto body = [](Strategy strategy) {
    return [strategy](racelab::Simulation& sim) { lab::bank::simulate_double_spend(sim, strategy); };
  };
  auto start = Clock::now();
  auto red = racelab::explore({.runs = 1000, .use_env = false}, body(Strategy::unsafe));
  n.result(red.failed(), red.summary() + " (" + ms_since(start) + "); the shrunk story:");
  if (red.failed()) {
    std::istringstream story([&] {
      std::ostringstream out;
      out << red;
      return out.str();
    }());
    for (std::string line; std::getline(story, line);) std::cout << "     " << line << '\n';
    auto again = racelab::explore({.schedule = red.schedule(), .use_env = false}, body(Strategy::unsafe));
    n.result(again.failed() && again.outcome().trace().text() == red.outcome().trace().text(),
             "replaying that schedule gives the same run, step for step");
  }
  n.say("Fix check: the `mutex` strategy under an exhaustive search of every interleaving:");
  start = Clock::now();
  auto green = racelab::explore({.runs = 100000, .strategy = "dfs", .use_env = false}, body(Strategy::mutex));
  n.result(!green.failed() && green.complete(), green.summary() + " (" + ms_since(start) + ")");
}

void unmodified_chapter(Narrator& n) {
  n.chapter("Your code as it is: racelab run on a program with no racelab in it");
  const std::string bank = RACELAB_DEMO_BANK, fixed = RACELAB_DEMO_BANK_FIXED;
  if (bank.empty() || !std::filesystem::exists(bank)) {
    n.result(false, "skipped: examples/05_unmodified_bank.cpp was not built (RACELAB_BUILD_EXAMPLES=OFF)");
    return;
  }
  n.say("examples/05_unmodified_bank.cpp is a plain C++ bank: std::thread, std::mutex, a std::map of");
  n.say("balances, and a check that drops the lock before the act. No racelab types, no points. Built");
  n.say("with racelab_instrument() in CMake (or `racelab c++`), racelab run searches its schedules:");
  n.code("racelab run --strategy dfs:2 -- ./run_example_05_unmodified_bank");
  auto search = [](const std::string& program, std::string& story, int runs = 5000) {
    run::RunOptions options;
    options.argv = {program};
    options.strategy = "dfs:2";
    options.runs = runs;
    options.runtime_library = runtime_library();
    std::ostringstream out, err;
    int rc = run::run_program(options, out, err);
    story = out.str() + err.str();
    return rc;
  };
  std::string story;
  auto start = Clock::now();
  int rc = search(bank, story);
  n.result(rc == 1 && story.find("double spend") != std::string::npos,
           "the double spend, found in " + ms_since(start) + "; the story:");
  std::istringstream lines(story);
  int shown = 0;
  for (std::string line; std::getline(lines, line) && shown < 40; ++shown)
    std::cout << "     " << line << '\n';
  n.say("The fix (examples/06_unmodified_bank_fixed.cpp) holds the lock across check and act:");
  start = Clock::now();
  rc = search(fixed, story);
  n.result(rc == 0 && story.find("every schedule within the bound explored") != std::string::npos,
           story.substr(0, story.find('\n')) + " (" + ms_since(start) + ")");

  n.say("The same bank through the plain sqlite3 C API (tests/run/programs/bank_sqlite.cpp): each");
  n.say("thread opens its own connection and checks alice's balance before a transaction that moves");
  n.say("the money. racelab run makes each sqlite3_step a scheduling point and a lock wait a wait:");
  n.code("racelab run --strategy dfs:2 -- ./bank_sqlite");
  start = Clock::now();
  rc = search(RACELAB_DEMO_SQLITE_BANK, story);
  const auto at = story.find("sql.select.accounts@");
  n.result(rc == 1 && story.find("double spend") != std::string::npos && at != std::string::npos,
           "the double spend, found in " + ms_since(start) + ", between the two threads' " +
               (at != std::string::npos ? story.substr(at, story.find_first_of(" \n|", at) - at)
                                        : std::string("SELECT")) +
               " statements");
  n.say("The fix (bank_sqlite_fixed.cpp) takes the write lock first, with BEGIN IMMEDIATE:");
  start = Clock::now();
  rc = search(RACELAB_DEMO_SQLITE_BANK_FIXED, story, 20000);
  n.result(rc == 0 && story.find("every schedule within the bound explored") != std::string::npos,
           story.substr(0, story.find('\n')) + " (" + ms_since(start) + ")");
}

// `conninfo` with its tables in `schema` (created if missing), so the demo never touches others'.
std::string in_schema(const std::string& conninfo, const std::string& schema) {
  lab::open_db(conninfo)->script("CREATE SCHEMA IF NOT EXISTS " + schema);
  if (conninfo.rfind("postgresql://", 0) == 0 || conninfo.rfind("postgres://", 0) == 0)
    return conninfo + (conninfo.find('?') == std::string::npos ? "?" : "&") + "options=-csearch_path%3D" +
           schema;
  return conninfo + " options='-csearch_path=" + schema + "'";
}

// The bank's double-spend as two SQL sessions: the same statements an ORM sends for a transfer
// that checks the balance, then writes the balance it computed.
constexpr const char* kTransferCase =
    R"(-- double-spend: two transfers of 800 from alice (1000), each checks her balance first
setup: CREATE TABLE accounts(id VARCHAR(16) PRIMARY KEY, balance INTEGER NOT NULL);
       INSERT INTO accounts VALUES ('alice', 1000), ('bob', 0), ('charlie', 0);
to_bob: BEGIN;
        SELECT balance FROM accounts WHERE id = 'alice' \gset
        UPDATE accounts SET balance = :balance - 800 WHERE id = 'alice' AND :balance >= 800;
        UPDATE accounts SET balance = balance + 800 WHERE id = 'bob' AND :balance >= 800;
        COMMIT;
to_charlie: BEGIN;
            SELECT balance FROM accounts WHERE id = 'alice' \gset
            UPDATE accounts SET balance = :balance - 800 WHERE id = 'alice' AND :balance >= 800;
            UPDATE accounts SET balance = balance + 800 WHERE id = 'charlie' AND :balance >= 800;
            COMMIT;
check: SELECT sum(balance) = 1000 FROM accounts;
)";

void isolation_chapter(Narrator& n, const std::string& pg, const std::string& mariadb) {
  n.chapter("Isolation levels: the same transfer at two levels, and one level name on two databases");
  n.say("The transfer as the SQL it sends (read the balance, write back balance - 800), two at once;");
  n.say("racelab sql runs every interleaving of the two sessions on the real database:");
  n.code("racelab sql transfer.sql --db $DB --level 'repeatable read'    (docs/isolation.md)");
  const auto c = lab::sqlcase::parse(kTransferCase, "transfer.sql");
  struct Cell {
    std::string name, db, level;
    std::vector<std::string> settings;
    bool breaks;
    const char* why;
  };
  const std::vector<Cell> cells = {
      {"PostgreSQL", pg, "read committed", {}, true, "each UPDATE writes what its own read saw"},
      {"PostgreSQL",
       pg,
       "repeatable read",
       {},
       false,
       "the second writer of alice's row is refused (40001) and rolls back"},
      {"MariaDB",
       mariadb,
       "repeatable read",
       {},
       true,
       "InnoDB's repeatable read waits for the row lock, then overwrites"},
      {"MariaDB",
       mariadb,
       "repeatable read",
       {"innodb_snapshot_isolation=on"},
       false,
       "with this server setting InnoDB refuses the stale write as PostgreSQL does"},
  };
  for (const auto& cell : cells) {
    std::string where = cell.name + " " + cell.level;
    for (const auto& s : cell.settings) where += " (" + s + ")";
    if (cell.db.empty()) {
      n.result(false, where + ": skipped: give --" +
                          (cell.name == "MariaDB" ? "mariadb URL" : "pg CONNINFO") +
                          " (make demo starts both servers)");
      continue;
    }
    try {
      const auto start = Clock::now();
      const auto r = lab::sqlcase::explore(
          c, {.db = cell.db, .level = cell.level, .settings = cell.settings, .schema = "racelab_demo_sql"});
      const bool broke = r.report.failed();
      n.result(
          broke == cell.breaks && (broke || r.report.complete()),
          where + ": " +
              (broke ? "double-spends (found after " + std::to_string(r.report.runs()) + " interleavings)"
                     : "holds in all " + std::to_string(r.report.runs()) + " interleavings") +
              " — " + cell.why + " (" + ms_since(start) + ")");
      if (broke && cell.name == "PostgreSQL") {
        std::istringstream lines(lab::sqlcase::timeline(c, r.witness));
        for (std::string line; std::getline(lines, line);) std::cout << "     " << line << '\n';
      }
    } catch (const std::exception& e) {
      n.result(false, where + ": cannot run the case: " + e.what());
    }
  }
  n.say("\"Repeatable read\" is a snapshot on PostgreSQL and a snapshot for reads only on MariaDB.");
  n.say("racelab isolation --db URL prints the whole matrix of a database, each cell from search.");
}

void two_instances_chapter(Narrator& n, const std::string& pg) {
  n.chapter("Two instances on PostgreSQL: the lab's \"safe mode\" is a lock in one process");
  if (pg.empty()) {
    n.result(false, "skipped: give --pg CONNINFO (make demo starts a PostgreSQL cluster and passes it)");
    return;
  }
  n.say("Safe mode (use_transactions) is the `mutex` strategy: re-check and write under a lock that");
  n.say("lives in the process. Run the bank twice on one database, as behind a load balancer, widen");
  n.say("the window with a 300 ms delay, and send one transfer of 800 from alice to each instance:");
  n.code("racelab serve --db $PG --port A &  racelab serve --db $PG --port B &");
  n.code("curl -X POST A/transfer -d '{alice→bob 800}' & curl -X POST B/transfer -d '{alice→charlie 800}'");
  std::string db;
  try {
    db = in_schema(pg, "racelab_demo");
  } catch (const std::exception& e) {
    n.result(false, std::string("cannot use PostgreSQL at '") + pg + "': " + e.what());
    return;
  }
  const auto self = std::filesystem::read_symlink("/proc/self/exe").string();
  ServerProcess one(self, {"--db", db}), two(self, {"--db", db});
  auto admin = [](ServerProcess& s, const std::string& path) {
    auto c = s.client();
    auto r = c.Post(path.c_str());
    return r && r->status == 200;
  };
  for (const char* strategy : {"mutex", "pessimistic", "atomic"}) {
    bool ready = true;
    for (auto* s : {&one, &two})
      ready = ready && admin(*s, std::string("/admin/strategy?name=") + strategy) &&
              admin(*s, "/admin/delay?enabled=true&ms=300");
    ready = ready && admin(one, "/reset");
    int status_a = 0, status_b = 0;
    auto send = [](ServerProcess& s, const char* to, int& status) {
      auto c = s.client();
      auto body = nlohmann::json{{"from_account", "alice"}, {"to_account", to}, {"amount", 800}}.dump();
      auto r = c.Post("/transfer", body, "application/json");
      status = r ? r->status : 0;
    };
    std::thread a([&] { send(one, "bob", status_a); });
    std::thread b([&] { send(two, "charlie", status_b); });
    a.join();
    b.join();
    auto c = one.client();
    auto r = c.Get("/accounts/alice");
    const std::int64_t alice =
        r && r->status == 200 ? nlohmann::json::parse(r->body)["balance"].get<std::int64_t>() : 0;
    const std::string answers =
        " (answers " + std::to_string(status_a) + " and " + std::to_string(status_b) + ")";
    if (std::string(strategy) == "mutex") {
      n.result(ready && alice == -600, "mutex: alice " + std::to_string(alice) + answers +
                                           " — each process's lock guarded only its own transfer");
    } else {
      n.result(ready && alice == 200, std::string(strategy) + ": alice " + std::to_string(alice) + answers +
                                          (std::string(strategy) == "pessimistic"
                                               ? " — SELECT … FOR UPDATE: the row lock is in the database"
                                               : " — UPDATE … WHERE balance >= 800: the check is the write"));
    }
  }
  n.say("A lock protects what shares it. Across processes, only the database is shared.");
}

int run_demo(int runs, bool color, const std::string& pg, const std::string& mariadb) {
  Narrator n(color);
  std::cout << "racelab demo: force a race, watch it break, prove the fix.\n";
  auto dir = std::filesystem::temp_directory_path() / ("racelab-demo-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  counter_chapter(n, dir);
  bank_chapter(n, runs);
  inventory_chapter(n, runs * 2);
  simulation_chapter(n);
  unmodified_chapter(n);
  two_instances_chapter(n, pg);
  isolation_chapter(n, pg, mariadb);
  std::filesystem::remove_all(dir);
  std::cout << '\n'
            << (n.failures() == 0
                    ? "Every demonstration came out as narrated.\n"
                    : std::to_string(n.failures()) + " demonstration(s) did not come out as narrated.\n");
  return n.failures() == 0 ? kExitOk : kExitFailed;
}

}  // namespace

void add_demo(CLI::App& app, std::function<int()>& run) {
  auto* cmd = app.add_subcommand(
      "demo", "Run the narrated walk-through: lost update, double-spend, oversell, and their fixes");
  auto runs = std::make_shared<int>(100);
  auto no_color = std::make_shared<bool>(false);
  auto pg = std::make_shared<std::string>();
  auto mariadb = std::make_shared<std::string>();
  cmd->add_option("--runs", *runs, "Runs per double-spend demonstration")
      ->check(CLI::Range(10, 100000))
      ->capture_default_str();
  cmd->add_flag("--no-color", *no_color, "Plain output even on a terminal");
  cmd->add_option("--pg", *pg,
                  "PostgreSQL conninfo or URL for the two-instance chapter (make demo starts a cluster)")
      ->envname("RACELAB_PG");
  cmd->add_option("--mariadb", *mariadb,
                  "mariadb://… URL for the isolation chapter (make demo starts a server: scripts/mariadb)")
      ->envname("RACELAB_MARIADB");
  cmd->callback([&run, runs, no_color, pg, mariadb] {
    bool color = !*no_color && ::isatty(STDOUT_FILENO) != 0;
    run = [runs, color, pg, mariadb] { return run_demo(*runs, color, *pg, *mariadb); };
  });
}

}  // namespace racelab::cli
