#include "session.hpp"

#include <racelab/db/statement.hpp>
#include <racelab/explore.hpp>
#include <racelab/point.hpp>
#include <racelab/sim/sync.hpp>
#include <racelab/sim/wait.hpp>

#include <algorithm>
#include <cerrno>
#include <deque>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <ostream>
#include <set>
#include <sstream>
#include <unordered_map>

#include "program.hpp"
#include "ranked.hpp"
#include "symbolizer.hpp"

namespace racelab::run {
namespace {

using wire::Op;
using namespace std::chrono;

// A failure the program showed: the run ends here with this message.
[[noreturn]] void fail(std::string message) { throw racelab::AssertionFailed(std::move(message)); }

const char* op_name(Op op, std::uint64_t arg0) {
  static constexpr const char* kAtomic[] = {
      "atomic.load",      "atomic.store",    "atomic.exchange",  "atomic.fetch_add",  "atomic.fetch_sub",
      "atomic.fetch_and", "atomic.fetch_or", "atomic.fetch_xor", "atomic.fetch_nand", "atomic.cas"};
  switch (op) {
    case Op::thread_create: return "thread.create";
    case Op::thread_join: return "thread.join";
    case Op::thread_detach: return "thread.detach";
    case Op::mutex_lock: return "mutex.lock";
    case Op::mutex_trylock: return "mutex.trylock";
    case Op::mutex_timedlock: return "mutex.timedlock";
    case Op::mutex_unlock: return "mutex.unlock";
    case Op::mutex_destroy: return "mutex.destroy";
    case Op::rwlock_rdlock: return "rwlock.rdlock";
    case Op::rwlock_wrlock: return "rwlock.wrlock";
    case Op::rwlock_tryrdlock: return "rwlock.tryrdlock";
    case Op::rwlock_trywrlock: return "rwlock.trywrlock";
    case Op::rwlock_timedrdlock: return "rwlock.timedrdlock";
    case Op::rwlock_timedwrlock: return "rwlock.timedwrlock";
    case Op::rwlock_unlock: return "rwlock.unlock";
    case Op::rwlock_destroy: return "rwlock.destroy";
    case Op::cond_wait: return "cond.wait";
    case Op::cond_timedwait: return "cond.timedwait";
    case Op::cond_signal: return "cond.signal";
    case Op::cond_broadcast: return "cond.broadcast";
    case Op::cond_destroy: return "cond.destroy";
    case Op::barrier_init: return "barrier.init";
    case Op::barrier_wait: return "barrier.wait";
    case Op::barrier_destroy: return "barrier.destroy";
    case Op::sem_init: return "sem.init";
    case Op::sem_wait: return "sem.wait";
    case Op::sem_trywait: return "sem.trywait";
    case Op::sem_timedwait: return "sem.timedwait";
    case Op::sem_post: return "sem.post";
    case Op::sem_destroy: return "sem.destroy";
    case Op::sem_getvalue: return "sem.getvalue";
    case Op::once_begin: return "once";
    case Op::once_end: return "once.done";
    case Op::once_abort: return "once.threw";
    case Op::sleep: return "sleep";
    case Op::yield: return "yield";
    case Op::db_blocked: return "sql.lock_wait";
    case Op::atomic_op: return arg0 < std::size(kAtomic) ? kAtomic[arg0] : "atomic";
    case Op::read: return "read";
    case Op::write: return "write";
    default: return "call";
  }
}

struct RaceRecord {
  struct Side {
    std::string thread;
    bool write = false;
    bool atomic = false;
    std::uint32_t size = 0;
    std::vector<std::uint64_t> stack;
  };
  std::uint64_t addr = 0;
  Side current, previous;
};

// Objects of one run, keyed by their address in the program.
struct Mutex {
  int serial = 0;
  std::uint64_t kind = 0;
  std::int64_t owner = -1;
  std::uint32_t count = 0;
  WaitQueue waiters;
};
struct RwLock {
  int serial = 0;
  std::int64_t writer = -1;
  std::map<std::uint32_t, std::uint32_t> readers;
  WaitQueue waiters;
};
struct Cond {
  int serial = 0;
  int waiting = 0;
  WaitQueue waiters;
};
struct Barrier {
  int serial = 0;
  std::uint64_t count = 0;
  std::uint64_t arrived = 0;
  std::uint64_t generation = 0;
  WaitQueue waiters;
};
struct Sem {
  int serial = 0;
  std::uint64_t value = 0;
  int waiting = 0;
  WaitQueue waiters;
};
struct Once {
  int state = 0;  // 0 not run, 1 running, 2 done
  WaitQueue waiters;
};

class Session;

class Run {
 public:
  Run(Session& session, Program& program, RunRank rank)
      : s_(session), program_(program), rank_(std::move(rank)) {}
  ~Run() {
    for (auto& t : threads_)
      if (t && t->joinable()) t->detach();
  }
  void serve(std::uint32_t tid);
  bool exited() const { return exited_; }
  const RunRank& rank() const { return rank_; }

 private:
  RunRank sighting() {  // the rank of the run's next report of something
    RunRank r = rank_;
    r.index = sightings_++;
    return r;
  }
  wire::Request next(std::uint32_t tid);
  wire::Reply handle(std::uint32_t tid, const wire::Request& req);
  const char* arrive(std::uint32_t tid, const wire::Request& req);
  const std::string& name(std::uint32_t tid) const { return names_[tid]; }
  std::string holder(std::int64_t tid) const { return tid < 0 ? "nobody" : "'" + names_[tid] + "'"; }
  template <class T>
  T& object(std::unordered_map<std::uint64_t, std::unique_ptr<T>>& table, std::uint64_t addr) {
    auto& slot = table[addr];
    if (!slot) {
      slot = std::make_unique<T>();
      slot->serial = ++serials_;
    }
    return *slot;
  }
  // The clocks the program reads: virtual time, plus the sleeps that --sleeps yield did not wait.
  std::int64_t now_ns() const { return racelab::Simulation::current()->now().count() + slept_ns_; }
  int lock(std::uint32_t tid, Mutex& m, const wire::Request& req, const char* point, bool try_only,
           std::int64_t timeout_ns);
  int unlock(std::uint32_t tid, Mutex& m, const wire::Request& req);

  Session& s_;
  Program& program_;
  RunRank rank_;
  int sightings_ = 0;
  std::vector<std::optional<racelab::thread>> threads_{1};
  std::vector<std::string> names_{"main"};
  std::vector<int> children_{0};
  int serials_ = 0;
  std::int64_t slept_ns_ = 0;
  bool exited_ = false;
  std::unordered_map<std::uint64_t, std::unique_ptr<Mutex>> mutexes_;
  std::unordered_map<std::uint64_t, std::unique_ptr<RwLock>> rwlocks_;
  std::unordered_map<std::uint64_t, std::unique_ptr<Cond>> conds_;
  std::unordered_map<std::uint64_t, std::unique_ptr<Barrier>> barriers_;
  std::unordered_map<std::uint64_t, std::unique_ptr<Sem>> sems_;
  std::unordered_map<std::uint64_t, std::unique_ptr<Once>> onces_;
  WaitQueue db_waiters_;  // threads whose statement waits for a lock in the database
};

// One search of one program. Its runs go to `jobs_` workers (explore()'s), each with a Program of
// its own, started by the worker's first run and kept for the session (the --time chunks call
// explore() again). What runs share is under mu_, which is taken only when jobs_ > 1 (guard()):
// the points and their names, the symbolizer, and what runs saw, each kept by the earliest run
// that saw it (ranked.hpp), so that the report is the same for every number of workers.
class Session {
 public:
  explicit Session(const RunOptions& options)
      : options_(options),
        jobs_(racelab::explore_jobs(std::max(options.jobs, 0))),
        spec_{options.argv, options.runtime_library, options.pin_cpu},
        cpus_(jobs_ > 1 && options.pin_cpu ? usable_cpus() : std::vector<int>{}),
        programs_(first_program(worker_spec(0), jobs_)),
        symbols_(programs_[0]->spec().argv[0], programs_[0]->exe_base()) {
    // Runs of a program that talks to a database would meet in it when several go at once (the
    // same file, tables, rows): unless asked for, one at a time.
    const char* env = std::getenv("RACELAB_JOBS");
    if (options.jobs < 0 && (env == nullptr || *env == '\0') && programs_[0]->uses_database()) {
      jobs_ = 1;
      programs_.resize(1);
    }
  }

  int search(std::ostream& out, std::ostream& err);

  // The point of an operation at a call site: "mutex.lock@bank.cpp:23". Names live as long as
  // the session (traces keep views of them).
  const char* point(const wire::Request& req, std::string_view text = {}) {
    if (req.op == Op::db_statement) return statement_point(req, text);
    auto key = std::make_pair(
        static_cast<std::uint64_t>(req.op) << 8 | (req.op == Op::atomic_op ? req.arg0 : 0), req.pc);
    auto lock = guard();
    auto it = points_.find(key);
    if (it == points_.end()) {
      bool return_address = req.op != Op::read && req.op != Op::write && req.op != Op::atomic_op;
      auto& name =
          names_.emplace_back(std::string(op_name(req.op, req.arg0)) + "@" +
                              (req.pc == wire::kLibrarySite ? std::string("database-library")
                                                            : symbols_.site(req.pc, return_address)));
      it = points_.emplace(key, Site{name.c_str(), racelab::Point(name)}).first;
    }
    const Site& site = it->second;
    lock = {};
    if ((req.flags & wire::kQuiet) == 0) site.point.hit();
    return site.name;
  }
  // A statement's point: "sql.update.accounts@bank.c:40", by its SQL and call site.
  const char* statement_point(const wire::Request& req, std::string_view sql) {
    auto lock = guard();
    auto name = racelab::db::statement_point_name(sql) + "@" + symbols_.site(req.pc, true);
    auto it = statements_.find(name);
    if (it == statements_.end()) {
      auto& kept = names_.emplace_back(name);
      it = statements_.emplace(name, Site{kept.c_str(), racelab::Point(kept)}).first;
    }
    const Site& site = it->second;
    lock = {};
    site.point.hit();
    return site.name;
  }
  void race(const RunRank& rank, const std::vector<std::string>& thread_names, std::string_view text);
  std::string describe(const RaceRecord& r);
  // A crash request's text ("what\nEXACT PC PC ...", channel.cpp) as a message with the stack.
  std::string crash_message(std::string_view text);
  const RunOptions& options() const { return options_; }
  void note_uncontrolled(const RunRank& rank) {
    auto lock = guard();
    uncontrolled_.see(rank, [] { return true; });
  }
  void note_sleep(const RunRank& rank) {
    auto lock = guard();
    slept_.see(rank, [] { return true; });
  }

 private:
  struct Site {
    const char* name;
    racelab::Point point;
  };
  // One worker: the driver stays where it runs, the program beside it while that pays (Program).
  // Several: each worker's driver thread and program share a CPU of their own (worker w: the w-th
  // usable CPU, round robin), so that no handoff crosses CPUs and the workers do not meet.
  ProgramSpec worker_spec(std::size_t worker) const {
    ProgramSpec spec = spec_;
    if (!cpus_.empty()) spec.cpu = cpus_[worker % cpus_.size()];
    return spec;
  }
  // Keeps the calling worker's thread on its program's CPU: explore() may give a worker index to
  // another kept thread in its next call.
  void stay_on_cpu(std::size_t worker) const {
    thread_local int pinned = -1;
    if (cpus_.empty() || pinned == cpus_[worker % cpus_.size()]) return;
    pinned = cpus_[worker % cpus_.size()];
    pin_thread(pinned);
  }
  static std::vector<std::unique_ptr<Program>> first_program(const ProgramSpec& spec, int jobs) {
    std::vector<std::unique_ptr<Program>> programs(static_cast<std::size_t>(jobs));
    programs[0] = std::make_unique<Program>(spec);
    return programs;
  }
  // Locks mu_ when several workers run (jobs_ > 1); with one, everything runs on one thread.
  std::unique_lock<std::mutex> guard() {
    return jobs_ > 1 ? std::unique_lock<std::mutex>(mu_) : std::unique_lock<std::mutex>();
  }
  // "\n<indent>at f (file.c:12)\n<indent>from g (file.c:30)...": the frames of a stack, innermost
  // first, the first one an exact instruction when `first_exact`, the rest return addresses. The
  // caller holds guard().
  std::string stack_text(const std::vector<std::uint64_t>& pcs, bool first_exact, std::string_view indent);
  Program& program();  // the calling worker's
  void configure(const wire::RunConfig& config);
  RunRank rank_of_run();
  void forget_ahead(const racelab::Report& report);
  std::vector<const RaceRecord*> races() const;
  void body(racelab::Simulation& sim);
  void detect_phase(std::ostream& err);
  void print_failure(const racelab::Report& r, std::ostream& out);
  std::string replay_command(const std::string& how) const;

  const RunOptions& options_;
  int jobs_;  // set once, by the constructor
  const ProgramSpec spec_;
  const std::vector<int> cpus_;  // jobs_ > 1, pinned: the CPUs the workers are pinned to
  std::mutex mu_;
  std::vector<std::unique_ptr<Program>> programs_;  // by worker; [0] from the start
  wire::RunConfig config_{};                        // every program's
  Symbolizer symbols_;
  std::deque<std::string> names_;
  std::map<std::pair<std::uint64_t, std::uint64_t>, Site> points_;
  std::map<std::string, Site> statements_;
  // What runs saw, by the run that saw it first (ranked.hpp): the data races by their two
  // instructions, whether a thread left racelab's control, whether a thread slept.
  std::map<std::pair<std::uint64_t, std::uint64_t>, Earliest<RaceRecord>> races_;
  Earliest<bool> uncontrolled_;
  Earliest<bool> slept_;
  std::vector<RunRank> nonzero_exits_;  // passing runs whose process exited with a non-zero status
  Earliest<ProcessEnd> nonzero_exit_;   // the first of them
  bool fail_on_race_ = false;
  int call_ = 0;                                      // explore() calls so far (RunRank::call)
  bool searched_ = false;                             // a run of this call's search started
  std::uint64_t serial_ = 0;                          // runs outside a search so far (RunRank::serial)
  std::vector<std::vector<std::uint32_t>> keys_run_;  // this call's search runs' keys
  std::map<std::string, ProcessEnd> failing_ends_;    // by the run's schedule text, the newest 64
  std::deque<std::string> failing_order_;             // ... oldest first
};

// --- one run --------------------------------------------------------------------------------

wire::Request Run::next(std::uint32_t tid) {
  const auto stuck = s_.options().stuck;
  auto req = program_.next_request(tid, stuck);
  if (req) return *req;
  if (!program_.ended() && program_.stuck()) {
    // The thread is inside a call racelab does not control (a read from a pipe, say). It counts
    // as blocked: the others run while it is away (so the one that would unblock it can), and the
    // run is marked not fully controlled. Away for another `stuck` with no request, the run fails.
    s_.note_uncontrolled(rank_);
    const auto away_since = steady_clock::now();
    while (steady_clock::now() - away_since < stuck) {
      racelab::this_thread::sleep_for(milliseconds(1));  // ends when every other thread waits too
      req = program_.next_request(tid, milliseconds(20));
      if (req) return *req;
      if (program_.ended()) break;
    }
    if (!program_.ended())
      fail("thread '" + name(tid) + "' has not come back to racelab for " +
           std::to_string(2 * stuck.count()) +
           " ms: it is inside a call racelab does not control (a read from a socket or pipe, a futex, a "
           "busy loop without atomics?)");
  }
  const auto& end = *program_.ended();
  if (end.exited) {
    if (s_.options().fail_on_exit && end.status != 0)
      fail("the program exited with status " + std::to_string(end.status) +
           " (--fail-on-exit) while thread '" + name(tid) + "' ran");
    exited_ = true;
    racelab::Simulation::current()->end("the process exited with status " + std::to_string(end.status));
    return {.op = Op::thread_exit};
  }
  fail("the program " + end.describe() + " while thread '" + name(tid) + "' ran");
}

void Run::serve(std::uint32_t tid) {
  program_.reply(tid, {.now_ns = now_ns()});
  for (;;) {
    auto req = next(tid);
    if (req.op == Op::thread_exit) return;
    if (req.op == Op::process_exit) {
      auto status = static_cast<int>(req.arg0);
      if (s_.options().fail_on_exit && status != 0)
        fail("the program exits with status " + std::to_string(status) + " (--fail-on-exit)");
      exited_ = true;
      std::size_t running = 0;
      for (std::size_t i = 0; i < threads_.size(); ++i)
        if (i != tid && threads_[i] && threads_[i]->joinable()) ++running;
      racelab::Simulation::current()->end(
          "the process exited with status " + std::to_string(status) +
          (running > 0 ? " while " + std::to_string(running) + " thread(s) still ran (they end with it)"
                       : ""));
      return;
    }
    if (req.op == Op::crash) fail(s_.crash_message(program_.text(tid)));
    auto reply = handle(tid, req);
    // A torn-down run (a failure or deadlock elsewhere) lets some calls return (a join, say):
    // the program's threads stay where they are until the process is killed.
    if (racelab::abandoned()) return;
    reply.now_ns = now_ns();
    program_.reply(tid, reply);
  }
}

const char* Run::arrive(std::uint32_t tid, const wire::Request& req) {
  return s_.point(req, req.op == Op::db_statement ? program_.text(tid) : std::string_view());
}

int Run::lock(std::uint32_t tid, Mutex& m, const wire::Request& req, const char* point, bool try_only,
              std::int64_t timeout_ns) {
  using wire::MutexKind;
  auto kind = static_cast<MutexKind>(req.arg0);
  if (m.owner == tid) {
    if (kind == MutexKind::recursive) {
      ++m.count;
      return 0;
    }
    if (kind == MutexKind::errorcheck) return EDEADLK;
    if (try_only) return EBUSY;
    fail("thread '" + name(tid) + "' locks mutex #" + std::to_string(m.serial) + " (" + point +
         ") that it already holds: a non-recursive mutex, so the thread deadlocks on itself");
  }
  if (try_only && m.owner >= 0) return EBUSY;
  const auto deadline = timeout_ns >= 0 ? racelab::Simulation::current()->now().count() + timeout_ns : -1;
  while (m.owner >= 0) {
    auto why = "mutex #" + std::to_string(m.serial) + " held by " + holder(m.owner);
    auto left = deadline < 0 ? -1 : deadline - racelab::Simulation::current()->now().count();
    if (deadline >= 0 && left <= 0) return ETIMEDOUT;
    auto r = m.waiters.wait(point, why, std::chrono::nanoseconds(left));
    if (r == WaitResult::timed_out && m.owner >= 0) return ETIMEDOUT;
  }
  m.owner = tid;
  m.count = 1;
  m.kind = req.arg0;
  return 0;
}

int Run::unlock(std::uint32_t tid, Mutex& m, const wire::Request& req) {
  using wire::MutexKind;
  auto kind = static_cast<MutexKind>(req.arg0);
  if (m.owner != tid) {
    if (kind == MutexKind::errorcheck || kind == MutexKind::recursive) return EPERM;
    fail("thread '" + name(tid) + "' unlocks mutex #" + std::to_string(m.serial) + " (" + s_.point(req) +
         ") " + (m.owner < 0 ? std::string("that nobody holds") : "held by " + holder(m.owner)));
  }
  if (--m.count == 0) {
    m.owner = -1;
    m.waiters.notify_one();
  }
  return 0;
}

wire::Reply Run::handle(std::uint32_t tid, const wire::Request& req) {
  wire::Reply rep{};
  if (req.op == Op::race) {  // not a scheduling point: the detector reports as the access happens
    s_.race(sighting(), names_, program_.text(tid));
    return rep;
  }
  if (req.op == Op::db_done) {  // not a scheduling point: a lock the statement held may be free
    db_waiters_.notify_all();
    return rep;
  }
  const char* point = arrive(tid, req);
  const auto ns = [](std::uint64_t v) { return std::chrono::nanoseconds(static_cast<std::int64_t>(v)); };
  switch (req.op) {
    case Op::thread_create: {
      auto child = static_cast<std::uint32_t>(threads_.size());
      if (req.arg1 != child)
        fail("racelab_rt numbered a new thread " + std::to_string(req.arg1) + ", the driver " +
             std::to_string(child) + " (threads created outside racelab's control?)");
      names_.push_back(names_[tid] + "." + std::to_string(++children_[tid]));
      children_.push_back(0);
      threads_.emplace_back();
      threads_[child].emplace([this, child] { serve(child); });
      if (req.arg0 != 0) threads_[child]->detach();
      rep.value = child;
      break;
    }
    case Op::thread_join: {
      auto target = req.arg0;
      if (target >= threads_.size() || !threads_[target] || !threads_[target]->joinable()) {
        rep.result = EINVAL;
      } else if (target == tid) {
        rep.result = EDEADLK;
      } else {
        threads_[target]->join();
      }
      break;
    }
    case Op::thread_detach: {
      auto target = req.arg0;
      if (target >= threads_.size() || !threads_[target] || !threads_[target]->joinable())
        rep.result = EINVAL;
      else
        threads_[target]->detach();
      break;
    }
    case Op::mutex_lock:
    case Op::mutex_trylock:
    case Op::mutex_timedlock:
      rep.result = lock(tid, object(mutexes_, req.obj), req, point, req.op == Op::mutex_trylock,
                        req.op == Op::mutex_timedlock ? static_cast<std::int64_t>(req.arg1) : -1);
      break;
    case Op::mutex_unlock: rep.result = unlock(tid, object(mutexes_, req.obj), req); break;
    case Op::mutex_destroy: {
      auto it = mutexes_.find(req.obj);
      if (it != mutexes_.end() && it->second->owner >= 0)
        fail("thread '" + name(tid) + "' destroys mutex #" + std::to_string(it->second->serial) + " (" +
             point + ") while " + holder(it->second->owner) + " holds it");
      if (it != mutexes_.end()) mutexes_.erase(it);
      break;
    }
    case Op::rwlock_rdlock:
    case Op::rwlock_tryrdlock:
    case Op::rwlock_timedrdlock:
    case Op::rwlock_wrlock:
    case Op::rwlock_trywrlock:
    case Op::rwlock_timedwrlock: {
      auto& l = object(rwlocks_, req.obj);
      bool write =
          req.op == Op::rwlock_wrlock || req.op == Op::rwlock_trywrlock || req.op == Op::rwlock_timedwrlock;
      bool try_only = req.op == Op::rwlock_tryrdlock || req.op == Op::rwlock_trywrlock;
      bool timed = req.op == Op::rwlock_timedrdlock || req.op == Op::rwlock_timedwrlock;
      if (l.writer == tid || (write && l.readers.count(tid) != 0)) {
        rep.result = EDEADLK;
        break;
      }
      auto busy = [&] { return l.writer >= 0 || (write && !l.readers.empty()); };
      const auto deadline =
          timed ? racelab::Simulation::current()->now().count() + static_cast<std::int64_t>(req.arg1) : -1;
      while (busy()) {
        if (try_only) break;
        auto left = deadline < 0 ? -1 : deadline - racelab::Simulation::current()->now().count();
        if (deadline >= 0 && left <= 0) break;
        auto why = "rwlock #" + std::to_string(l.serial) + " held by " +
                   (l.writer >= 0 ? holder(l.writer) + " (writing)"
                                  : std::to_string(l.readers.size()) + " reader(s)");
        l.waiters.wait(point, why, std::chrono::nanoseconds(left));
      }
      if (busy()) {
        rep.result = try_only ? EBUSY : ETIMEDOUT;
        break;
      }
      if (write)
        l.writer = tid;
      else
        ++l.readers[tid];
      break;
    }
    case Op::rwlock_unlock: {
      auto& l = object(rwlocks_, req.obj);
      if (l.writer == tid) {
        l.writer = -1;
      } else if (auto it = l.readers.find(tid); it != l.readers.end()) {
        if (--it->second == 0) l.readers.erase(it);
      } else {
        fail("thread '" + name(tid) + "' unlocks rwlock #" + std::to_string(l.serial) + " (" + point +
             ") that it does not hold");
      }
      l.waiters.notify_all();
      break;
    }
    case Op::rwlock_destroy: {
      auto it = rwlocks_.find(req.obj);
      if (it != rwlocks_.end() && (it->second->writer >= 0 || !it->second->readers.empty()))
        fail("thread '" + name(tid) + "' destroys rwlock #" + std::to_string(it->second->serial) + " (" +
             point + ") while it is held");
      if (it != rwlocks_.end()) rwlocks_.erase(it);
      break;
    }
    case Op::cond_wait:
    case Op::cond_timedwait: {
      auto& c = object(conds_, req.obj);
      auto& m = object(mutexes_, req.arg0);
      if (m.owner != tid)
        fail("thread '" + name(tid) + "' waits on condition variable #" + std::to_string(c.serial) + " (" +
             point + ") without holding its mutex #" + std::to_string(m.serial));
      auto count = m.count;
      m.owner = -1;
      m.count = 0;
      m.waiters.notify_one();
      ++c.waiting;
      auto timeout = req.op == Op::cond_timedwait ? ns(req.arg1) : WaitQueue::kForever;
      struct Leave {
        Cond& c;
        ~Leave() { --c.waiting; }
      } leave{c};
      auto r =
          c.waiters.wait(point, "condition variable #" + std::to_string(c.serial) + " (a signal)", timeout);
      if (r == WaitResult::timed_out) rep.result = ETIMEDOUT;
      while (m.owner >= 0)
        m.waiters.wait(point, "mutex #" + std::to_string(m.serial) + " held by " + holder(m.owner) +
                                  " (to return from a condition wait)");
      m.owner = tid;
      m.count = count;
      break;
    }
    case Op::cond_signal: object(conds_, req.obj).waiters.notify_one(); break;
    case Op::db_statement:  // the point was the whole of it
      break;
    case Op::db_blocked:
      db_waiters_.wait(point,
                       "a database lock held by another connection (its statement waits in the server)");
      break;
    case Op::cond_broadcast: object(conds_, req.obj).waiters.notify_all(); break;
    case Op::cond_destroy: {
      auto it = conds_.find(req.obj);
      if (it != conds_.end() && it->second->waiting > 0)
        fail("thread '" + name(tid) + "' destroys condition variable #" + std::to_string(it->second->serial) +
             " (" + point + ") while " + std::to_string(it->second->waiting) + " thread(s) wait on it");
      if (it != conds_.end()) conds_.erase(it);
      break;
    }
    case Op::barrier_init: {
      auto& b = object(barriers_, req.obj);
      b.count = req.arg0;
      b.arrived = 0;
      break;
    }
    case Op::barrier_wait: {
      auto& b = object(barriers_, req.obj);
      if (b.count == 0) b.count = req.arg0;
      if (++b.arrived >= b.count) {
        b.arrived = 0;
        ++b.generation;
        b.waiters.notify_all();
        rep.value = 1;  // PTHREAD_BARRIER_SERIAL_THREAD
        break;
      }
      auto generation = b.generation;
      while (b.generation == generation)
        b.waiters.wait(point, "barrier #" + std::to_string(b.serial) + " (" + std::to_string(b.arrived) +
                                  " of " + std::to_string(b.count) + " arrived)");
      break;
    }
    case Op::barrier_destroy: barriers_.erase(req.obj); break;
    case Op::sem_init: object(sems_, req.obj).value = req.arg0; break;
    case Op::sem_wait:
    case Op::sem_trywait:
    case Op::sem_timedwait: {
      auto& sem = object(sems_, req.obj);
      const auto deadline = req.op == Op::sem_timedwait ? racelab::Simulation::current()->now().count() +
                                                              static_cast<std::int64_t>(req.arg1)
                                                        : -1;
      while (sem.value == 0 && req.op != Op::sem_trywait) {
        auto left = deadline < 0 ? -1 : deadline - racelab::Simulation::current()->now().count();
        if (deadline >= 0 && left <= 0) break;
        ++sem.waiting;
        sem.waiters.wait(point, "semaphore #" + std::to_string(sem.serial) + " (a post)",
                         std::chrono::nanoseconds(left));
        --sem.waiting;
      }
      if (sem.value == 0) {
        rep.result = req.op == Op::sem_trywait ? EAGAIN : ETIMEDOUT;
        break;
      }
      --sem.value;
      break;
    }
    case Op::sem_post: {
      auto& sem = object(sems_, req.obj);
      ++sem.value;
      sem.waiters.notify_one();
      break;
    }
    case Op::sem_getvalue: rep.value = object(sems_, req.obj).value; break;
    case Op::sem_destroy: {
      auto it = sems_.find(req.obj);
      if (it != sems_.end() && it->second->waiting > 0)
        fail("thread '" + name(tid) + "' destroys semaphore #" + std::to_string(it->second->serial) + " (" +
             point + ") while threads wait on it");
      if (it != sems_.end()) sems_.erase(it);
      break;
    }
    case Op::once_begin: {
      auto& once = *onces_.try_emplace(req.obj, std::make_unique<Once>()).first->second;
      while (once.state == 1) once.waiters.wait(point, "pthread_once's initialiser, run by another thread");
      rep.value = once.state == 0 ? 1 : 0;
      if (once.state == 0) once.state = 1;
      break;
    }
    case Op::once_abort: {
      auto& once = *onces_.try_emplace(req.obj, std::make_unique<Once>()).first->second;
      once.state = 0;
      once.waiters.notify_all();
      break;
    }
    case Op::once_end: {
      auto& once = *onces_.try_emplace(req.obj, std::make_unique<Once>()).first->second;
      once.state = 2;
      once.waiters.notify_all();
      break;
    }
    case Op::sleep:
      // The point before it let the others run; with --sleeps yield the thread may also go on at
      // once, as a real thread whose sleep is shorter than another thread's time slice does.
      if (s_.options().sleeps_yield)
        slept_ns_ += static_cast<std::int64_t>(req.arg0);
      else
        racelab::this_thread::sleep_for(ns(req.arg0));
      s_.note_sleep(rank_);
      break;
    case Op::yield:
    case Op::atomic_op:
    case Op::read:
    case Op::write: break;  // the point was the operation
    default:
      fail("racelab_rt sent an unknown request (" + std::to_string(static_cast<std::uint32_t>(req.op)) + ")");
  }
  return rep;
}

// --- the session ----------------------------------------------------------------------------

std::vector<std::uint64_t> numbers(std::string_view line) {
  std::vector<std::uint64_t> out;
  std::istringstream in{std::string(line)};
  std::uint64_t v;
  while (in >> v) out.push_back(v);
  return out;
}

void Session::race(const RunRank& rank, const std::vector<std::string>& thread_names, std::string_view text) {
  auto nl = text.find('\n');
  if (nl == std::string_view::npos) return;
  RaceRecord r;
  r.addr = numbers(text.substr(0, nl)).front();
  auto rest = text.substr(nl + 1);
  for (auto* side : {&r.current, &r.previous}) {
    auto end = rest.find('\n');
    auto v = numbers(rest.substr(0, end));
    rest = end == std::string_view::npos ? std::string_view{} : rest.substr(end + 1);
    if (v.size() < 4) return;
    side->thread = v[0] < thread_names.size() ? thread_names[v[0]] : "thread " + std::to_string(v[0]);
    side->write = v[1] != 0;
    side->atomic = v[2] != 0;
    side->size = static_cast<std::uint32_t>(v[3]);
    side->stack.assign(v.begin() + 4, v.end());
  }
  auto pc = [](const RaceRecord::Side& s) { return s.stack.empty() ? 0 : s.stack.front(); };
  // By value: std::minmax returns references, here to the temporaries pc() returns.
  const std::pair<std::uint64_t, std::uint64_t> key = std::minmax(pc(r.current), pc(r.previous));
  {
    auto lock = guard();
    races_[key].see(rank, [&r] { return r; });
  }
  if (fail_on_race_) fail(describe(r));
}

std::string Session::describe(const RaceRecord& r) {
  auto lock = guard();
  std::ostringstream out;
  out << "data race on " << r.current.size << " byte(s) at 0x" << std::hex << r.addr << std::dec << ":";
  auto side = [&](const char* label, const RaceRecord::Side& s) {
    out << "\n    " << label << ' ' << (s.atomic ? "atomic " : "") << (s.write ? "write" : "read")
        << " by thread '" << s.thread << "'";
    out << stack_text(s.stack, true, "      ");
  };
  side("this", r.current);
  side("races with the earlier", r.previous);
  return out.str();
}

std::string Session::stack_text(const std::vector<std::uint64_t>& pcs, bool first_exact,
                                std::string_view indent) {
  std::string out;
  int shown = 0;
  for (std::size_t i = 0; i < pcs.size() && shown < 8; ++i) {
    for (const auto& f : symbols_.frames(pcs[i], !(first_exact && i == 0))) {
      if (f.function == "??" && f.file == "??") continue;      // no symbols: libc's start, a stripped library
      if (shown > 0 && f.file.starts_with("/usr/")) continue;  // std::thread's and std::function's plumbing
      auto slash = f.file.rfind('/');
      out += '\n';
      out += indent;
      out += shown++ == 0 ? "at " : "from ";
      out += f.function + " (" + (slash == std::string::npos ? f.file : f.file.substr(slash + 1)) + ':' +
             std::to_string(f.line) + ')';
      if (f.function == "main") return out;  // what called main is the C library's business
    }
  }
  return out;
}

std::string Session::crash_message(std::string_view text) {
  auto newline = text.find('\n');
  std::string message(text.substr(0, newline));
  if (newline == std::string_view::npos) return message;
  std::istringstream in{std::string(text.substr(newline + 1))};
  int exact = 0;
  in >> exact;
  std::vector<std::uint64_t> pcs;
  for (std::uint64_t pc = 0; in >> pc;) pcs.push_back(pc);
  auto lock = guard();
  return message + stack_text(pcs, exact != 0, "      ");
}

Program& Session::program() {
  const auto worker = static_cast<std::size_t>(racelab::detail::explore_worker());
  if (worker >= programs_.size())
    throw std::logic_error("racelab run: explore() ran worker " + std::to_string(worker) + " of " +
                           std::to_string(programs_.size()));
  auto& slot = programs_[worker];  // only this worker's runs touch it, one at a time
  stay_on_cpu(worker);
  if (!slot) {
    auto started = std::make_unique<Program>(worker_spec(worker));
    // Schedules and races name instructions by address: every program must have the same ones.
    if (started->exe_base() != programs_[0]->exe_base())
      throw ProgramError(
          "the program loads at another address in a second process (address randomisation "
          "could not be turned off): use --jobs 1");
    started->config() = config_;
    slot = std::move(started);
  }
  return *slot;
}

// Sets what the runtime does in the runs to come (between explore() calls: no run is running).
void Session::configure(const wire::RunConfig& config) {
  config_ = config;
  for (auto& p : programs_)
    if (p) p->config() = config_;
}

RunRank Session::rank_of_run() {
  RunRank rank;
  auto lock = guard();
  rank.call = call_;
  if (const auto* key = racelab::detail::explore_run_key()) {
    rank.stage = 1;
    rank.key = *key;
    keys_run_.push_back(*key);
    searched_ = true;
  } else {  // on the calling thread, with no worker running
    rank.stage = call_ > 0 && searched_ ? 2 : 0;
    rank.serial = serial_++;
  }
  return rank;
}

void Session::body(racelab::Simulation& sim) {
  Program& program = this->program();
  Run run(*this, program, rank_of_run());
  program.start_run();
  sim.spawn("main", [&run] { run.serve(0); });
  auto outcome = sim.run();
  auto end = program.finish_run(outcome.ok() && run.exited() ? milliseconds(2'000) : milliseconds(0));
  if (!outcome.ok()) {
    auto lock = guard();
    auto schedule = outcome.schedule();
    if (failing_ends_.insert_or_assign(schedule, end).second) failing_order_.push_back(schedule);
    if (failing_order_.size() > 64) {
      failing_ends_.erase(failing_order_.front());
      failing_order_.pop_front();
    }
    return;
  }
  if (run.exited() && !end.exited)
    fail("after main returned, the program " + end.describe() + " (in its exit handlers or destructors)");
  if (end.exited && end.status != 0) {
    auto lock = guard();
    nonzero_exits_.push_back(run.rank());
    nonzero_exit_.see(run.rank(), [&end] { return end; });
  }
}

// After an explore() call: it counted the report.runs() lowest keys it ran; what only the others
// (run ahead of its answer) saw is forgotten.
void Session::forget_ahead(const racelab::Report& report) {
  std::sort(keys_run_.begin(), keys_run_.end());
  keys_run_.erase(std::unique(keys_run_.begin(), keys_run_.end()), keys_run_.end());  // --verify runs twice
  const auto counted = static_cast<std::size_t>(std::max(0, report.runs()));
  if (keys_run_.size() > counted) {
    const bool all = counted == 0;
    const auto last = all ? std::vector<std::uint32_t>{} : keys_run_[counted - 1];
    for (auto it = races_.begin(); it != races_.end();) {
      it->second.forget_after(call_, last, all);
      it = it->second.empty() ? races_.erase(it) : std::next(it);
    }
    uncontrolled_.forget_after(call_, last, all);
    slept_.forget_after(call_, last, all);
    nonzero_exit_.forget_after(call_, last, all);
    std::erase_if(nonzero_exits_,
                  [&](const RunRank& r) { return r.call == call_ && r.searched() && (all || last < r.key); });
  }
  keys_run_.clear();
}

// The races, by the run that saw each first (for one worker: the order they were found in).
std::vector<const RaceRecord*> Session::races() const {
  std::vector<const Earliest<RaceRecord>*> seen;
  for (const auto& [key, race] : races_) seen.push_back(&race);
  std::sort(seen.begin(), seen.end(), [](auto* a, auto* b) { return *a->rank() < *b->rank(); });
  std::vector<const RaceRecord*> out;
  for (const auto* race : seen) out.push_back(race->first());
  return out;
}

// Serial (on the calling thread, worker 0's program) whatever --jobs says: its runs are few.
void Session::detect_phase(std::ostream& err) {
  wire::RunConfig config = config_;
  config.detect_races = 1;
  config.all_accesses = 0;
  config.point_pc_count = 0;
  configure(config);
  for (int i = 0; i < options_.detect_runs; ++i) {
    racelab::Simulation sim(racelab::SimOptions{
        .seed = static_cast<std::uint64_t>(i), .strategy = "random", .max_steps = options_.max_steps});
    try {
      body(sim);
    } catch (const std::exception&) {
      // A failure here is found again by the search, with the same points as its replay.
    }
  }
  std::set<std::uint64_t> pcs;
  for (const auto& [key, race] : races_)
    for (const auto* side : {&race.first()->current, &race.first()->previous})
      if (!side->stack.empty() && !side->atomic) pcs.insert(side->stack.front());
  if (pcs.size() > wire::kMaxPointPcs) {
    err << "racelab run: " << pcs.size() << " racy instructions; scheduling at the first "
        << wire::kMaxPointPcs << '\n';
  }
  std::size_t n = 0;
  for (auto pc : pcs) {
    if (n == wire::kMaxPointPcs) break;
    config.point_pcs[n++] = pc;
  }
  config.point_pc_count = static_cast<std::uint32_t>(n);
  configure(config);
}

std::string quote(const std::string& s) {
  if (!s.empty() && s.find_first_of(" \t\n'\"\\$`*?[]{}()<>|&;#~") == std::string::npos) return s;
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

std::string Session::replay_command(const std::string& how) const {
  std::string cmd = options_.replay_prefix;
  if (options_.points != Points::racy)
    cmd += options_.points == Points::sync ? " --points sync" : " --points all-accesses";
  if (options_.races != Races::report)
    cmd += options_.races == Races::fail ? " --races fail" : " --races ignore";
  if (options_.fail_on_exit) cmd += " --fail-on-exit";
  if (options_.sleeps_yield) cmd += " --sleeps yield";
  if (options_.max_steps != RunOptions{}.max_steps)
    cmd += " --max-steps " + std::to_string(options_.max_steps);
  if (options_.points == Points::racy && options_.detect_runs != RunOptions{}.detect_runs)
    cmd += " --detect-runs " + std::to_string(options_.detect_runs);
  cmd += " " + how + " --";
  for (const auto& a : options_.argv) cmd += " " + quote(a);
  return cmd;
}

void Session::print_failure(const racelab::Report& r, std::ostream& out) {
  const auto& m = r.outcome();
  auto summary = r.summary();  // "... fails: failure" says nothing the message below does not
  if (constexpr std::string_view kPlain = ": failure"; summary.ends_with(kPlain))
    summary.resize(summary.size() - kPlain.size());
  out << "racelab run: " << summary << '\n';
  out << "  " << m.message() << '\n';
  if (m.kind() == racelab::OutcomeKind::diverged) {
    for (const auto& note : r.notes()) out << "  " << note << '\n';
    out << m.trace().timeline();
    return;
  }
  auto schedule = m.schedule();
  out << "  minimal schedule (" << racelab::Schedule::parse(schedule).entries.size() << " switches, from "
      << racelab::Schedule::from_trace(r.original().trace()).entries.size() << "): " << schedule << '\n';
  for (const auto& note : r.notes()) out << "  " << note << '\n';
  out << m.trace().timeline();
  if (auto it = failing_ends_.find(schedule); it != failing_ends_.end() && !it->second.output.empty()) {
    out << "  the program's output in this run:\n";
    std::istringstream lines(it->second.output);
    std::string line;
    while (std::getline(lines, line)) out << "    | " << line << '\n';
  }
  out << "  replay: " << replay_command("--schedule " + quote(schedule)) << '\n';
  if (r.seed_replays() && options_.schedule.empty())
    out << "      or: "
        << replay_command("--strategy " + quote(r.strategy()) + " --seed " + std::to_string(r.seed()) +
                          " --runs 1")
        << '\n';
}

int Session::search(std::ostream& out, std::ostream& err) {
  const bool instrumented = programs_[0]->instrumented();
  if (!instrumented && options_.points != Points::sync)
    err << "racelab run: '" << options_.argv[0]
        << "' was not built with `racelab cc` / `racelab c++`: only its threading calls are scheduled, and "
           "data "
           "races on plain memory are not seen\n";
  bool detect = instrumented && options_.races != Races::ignore;
  if (options_.points == Points::racy && instrumented) detect_phase(err);
  nonzero_exits_.clear();  // count the search's runs only
  nonzero_exit_ = {};
  wire::RunConfig config = config_;
  config.detect_races = detect ? 1 : 0;
  config.all_accesses = options_.points == Points::all ? 1 : 0;
  if (options_.points != Points::racy) config.point_pc_count = 0;
  configure(config);
  fail_on_race_ = options_.races == Races::fail;

  racelab::ExploreOptions eo;
  eo.runs = options_.runs;
  eo.strategy = options_.strategy;
  eo.seed = options_.seed;
  eo.max_steps = options_.max_steps;
  eo.schedule = options_.schedule;
  eo.verify = options_.verify;
  eo.use_env = false;
  eo.jobs = jobs_;  // each worker drives a program process of its own (program())
  eo.shard = options_.shard;
  if (options_.progress)
    eo.progress = [this](const racelab::ExploreProgress& p) { options_.progress(p.runs_done, p.runs_total); };
  auto body = [this](racelab::Simulation& sim) { this->body(sim); };
  auto explore = [&](const racelab::ExploreOptions& options) {
    ++call_;
    searched_ = false;
    keys_run_.clear();
    auto report = racelab::explore(options, body);
    forget_ahead(report);
    return report;
  };

  const bool chunked =
      options_.time.count() > 0 && options_.schedule.empty() && !options_.strategy.starts_with("dfs");
  racelab::Report report;
  int runs = 0;
  const auto deadline = steady_clock::now() + options_.time;
  if (!chunked) {
    report = explore(eo);
    runs = report.runs();
  } else {
    while (runs < options_.runs) {
      auto chunk = eo;
      chunk.runs = std::min(10, options_.runs - runs);
      chunk.seed = options_.seed + static_cast<std::uint64_t>(runs);
      if (options_.progress) chunk.progress = {};
      report = explore(chunk);
      runs += report.runs();
      if (options_.progress) options_.progress(runs, options_.runs);
      if (report.failed() || steady_clock::now() >= deadline) break;
    }
  }

  if (options_.on_report) options_.on_report(report);
  if (report.failed()) {
    print_failure(report, out);
    if (!options_.trace_file.empty())
      std::ofstream(options_.trace_file) << report.outcome().trace().chrome_json();
  } else {
    out << "racelab run: no failure in " << runs << " run(s) of " << options_.argv[0] << " ("
        << report.strategy() << (report.complete() ? ", every schedule within the bound explored" : "")
        << ")\n";
  }
  const bool diverged = report.failed() && report.outcome().kind() == racelab::OutcomeKind::diverged;
  const auto races = this->races();
  if (!races.empty() && options_.races == Races::report && !diverged) {
    out << "racelab run: " << races.size() << " data race(s) (distinct pairs of instructions):\n";
    for (const auto* race : races) out << "  " << describe(*race) << '\n';
  }
  if (!nonzero_exits_.empty() && !report.failed()) {
    out << "racelab run: note: in " << nonzero_exits_.size()
        << " run(s) the program exited with a non-zero status (the "
        << "first: " << nonzero_exit_.first()->status
        << "); --fail-on-exit makes that a failure. Its output:\n";
    std::istringstream lines(nonzero_exit_.first()->output);
    int shown = 0;
    for (std::string line; std::getline(lines, line) && shown < 20; ++shown) out << "    | " << line << '\n';
  }
  if (!slept_.empty() && !options_.sleeps_yield && !report.failed())
    out << "racelab run: note: the program sleeps; a sleeping thread waited until every other thread waited. "
           "--sleeps yield also explores the sleeper running on first\n";
  if (!uncontrolled_.empty())
    out << "racelab run: note: a thread blocked outside racelab's control; the run was not fully "
           "controlled\n";
  if (diverged) {
    err << (options_.schedule.empty()
                ? "racelab run: the program is not deterministic under racelab (a call it "
                  "does not control?)\n"
                : "racelab run: this schedule does not fit this program\n");
    return 2;
  }
  if (report.failed()) return 1;
  if (!races.empty() && options_.races == Races::fail) return 1;
  return 0;
}

}  // namespace

int run_program(const RunOptions& options, std::ostream& out, std::ostream& err) {
  // The library's errors name themselves ("racelab: strategy 'x': ..."); ours already say who speaks.
  auto error = [&err](std::string_view what) {
    if (what.starts_with("racelab: ")) what.remove_prefix(9);
    err << "racelab run: " << what << '\n';
    return 2;
  };
  try {
    Session session(options);
    return session.search(out, err);
  } catch (const ProgramError& e) {
    return error(e.what());
  } catch (const racelab::ExploreOptionsError& e) {
    return error(e.what());
  } catch (const racelab::ScheduleParseError& e) {
    return error(e.what());
  }
}

}  // namespace racelab::run
