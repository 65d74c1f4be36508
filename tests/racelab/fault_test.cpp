// Faults at a boundary (racelab/fault.hpp): a point that offers faults gets one chosen by the
// simulation's strategy (seeded, a DFS choice, a schedule's `!deadlock`) or by an armed Hooks::fault;
// SQLite's statements turn each into SQLite's own error.
#include <racelab/db/sqlite.hpp>
#include <racelab/racelab.hpp>

#include <gtest/gtest.h>

#include <sqlite3.h>

#include <map>
#include <set>

namespace {

using racelab::Fault;
using racelab::FaultSet;

// A call across a boundary: its point offers a timeout and a deadlock; what came back is recorded.
struct Call {
  std::vector<std::string> seen;  // "ok", "timeout", "deadlock", "crash"
  void operator()() {
    static const racelab::Point point("fault.call");
    try {
      auto f = point.hit_or_fault({Fault::timeout, Fault::deadlock});
      seen.emplace_back(f ? std::string(racelab::to_string(*f)) : "ok");
    } catch (const racelab::InjectedCrash&) {
      seen.emplace_back("crash");
      throw;
    }
  }
};

racelab::Outcome run_calls(racelab::SimOptions options, std::vector<std::string>* seen = nullptr) {
  racelab::Simulation sim(std::move(options));
  auto a = std::make_shared<Call>(), b = std::make_shared<Call>();
  sim.spawn("A", [a] {
    (*a)();
    (*a)();
  });
  sim.spawn("B", [b] { (*b)(); });
  auto out = sim.run();
  if (seen != nullptr) {
    *seen = a->seen;
    seen->insert(seen->end(), b->seen.begin(), b->seen.end());
  }
  return out;
}

}  // namespace

TEST(FaultSet, ParsesNamesAndAllAndRejectsTheUnknown) {
  EXPECT_EQ(FaultSet::parse("deadlock, busy"), (FaultSet{Fault::deadlock, Fault::busy}));
  EXPECT_EQ(FaultSet::parse("all"), FaultSet::all());
  EXPECT_EQ(FaultSet::all().text(),
            "crash,lost_before,lost_after_commit,timeout,deadlock,serialization,busy");
  EXPECT_TRUE(FaultSet::parse("").empty());
  try {
    static_cast<void>(FaultSet::parse("deadlock,gremlins"));
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("unknown fault 'gremlins' (known: crash, lost_before"),
              std::string::npos)
        << e.what();
  }
  EXPECT_THROW(racelab::Simulation({.faults = "dedlock"}), racelab::SimulationError);
}

// A random search places the faults the options ask for (and only those), from the seed; each run's
// schedule names them (`!timeout`) and replays the run under another seed.
TEST(Faults, TheSeedPlacesThemAndTheScheduleReplaysThem) {
  std::set<std::string> kinds;
  for (std::uint64_t seed = 0; seed < 200; ++seed) {
    std::vector<std::string> seen;
    auto out = run_calls({.seed = seed, .crash_probability = 0.5, .faults = "timeout,deadlock"}, &seen);
    ASSERT_TRUE(out.ok()) << out;
    kinds.insert(seen.begin(), seen.end());
    std::vector<std::string> again_seen;
    auto again = run_calls({.seed = seed + 1000, .schedule = out.schedule()}, &again_seen);
    ASSERT_TRUE(again.ok()) << again;
    EXPECT_EQ(again.trace().text(), out.trace().text()) << "seed " << seed;
    EXPECT_EQ(again_seen, seen) << "seed " << seed;
    auto same = run_calls({.seed = seed, .crash_probability = 0.5, .faults = "timeout,deadlock"});
    EXPECT_EQ(same.trace().text(), out.trace().text()) << "seed " << seed;
  }
  EXPECT_EQ(kinds, (std::set<std::string>{"ok", "timeout", "deadlock"}));  // never a crash: not asked
}

TEST(Faults, TheTimelineAndTheScheduleSayWhichFault) {
  auto out = run_calls({.schedule = "racelab-schedule/1: *>A A@fault.call#1!deadlock A@end#1>B"});
  ASSERT_TRUE(out.ok()) << out;
  EXPECT_NE(out.schedule().find("A@fault.call#1!deadlock"), std::string::npos) << out.schedule();
  EXPECT_NE(out.trace().timeline().find("FAULT deadlock at fault.call"), std::string::npos)
      << out.trace().timeline();
  EXPECT_NE(out.trace().text().find("crash fault.call -> (deadlock)"), std::string::npos)
      << out.trace().text();
}

// A schedule that injects a fault the point does not offer diverges, naming it; a malformed fault
// name is a parse error.
TEST(Faults, AFaultThePointDoesNotOfferIsADivergence) {
  auto out = run_calls({.schedule = "racelab-schedule/1: *>A A@fault.call#1!lost_after_commit"});
  ASSERT_EQ(out.kind(), racelab::OutcomeKind::diverged) << out;
  EXPECT_NE(
      out.message().find("injects lost_after_commit into 'A' at fault.call#1, which cannot fail that way"),
      std::string::npos)
      << out.message();
  try {
    static_cast<void>(racelab::Schedule::parse("racelab-schedule/1: *>A A@x#1!gremlin"));
    FAIL();
  } catch (const racelab::ScheduleParseError& e) {
    EXPECT_NE(std::string(e.what()).find("unknown fault 'gremlin'"), std::string::npos) << e.what();
  }
}

// DFS takes each offered fault as one more choice at the point: one task, one call offering two
// faults beside a crash, all asked for: four runs (go on, crash, timeout, deadlock), complete.
TEST(Faults, DfsTriesEveryFaultAtEveryPoint) {
  std::multiset<std::string> outcomes;
  auto report = racelab::explore({.runs = 100,
                                  .strategy = "dfs",
                                  .crash_probability = 1.0,
                                  .crash_points = "fault.call",
                                  .faults = "all",
                                  .use_env = false,
                                  .jobs = 1},
                                 [&](racelab::Simulation& sim) {
                                   auto call = std::make_shared<Call>();
                                   sim.spawn("A", [call] { (*call)(); });
                                   static_cast<void>(sim.run());
                                   outcomes.insert(call->seen.at(0));
                                 });
  EXPECT_FALSE(report.failed()) << report;
  EXPECT_TRUE(report.complete());
  EXPECT_EQ(report.runs(), 4);
  EXPECT_EQ(outcomes, (std::multiset<std::string>{"ok", "crash", "timeout", "deadlock"}));
}

// Real threads: Hooks::fault fails the point once by default, only where the point offers the fault;
// a crash at a plain RACELAB_POINT throws InjectedCrash.
TEST(Faults, HooksArmThemOnRealThreads) {
  racelab::Point point("fault.hooked");
  racelab::Hooks hooks;
  auto busy = hooks.fault("fault.hooked", Fault::busy);
  EXPECT_EQ(point.hit_or_fault({Fault::timeout}), std::nullopt);  // not offered: kept for later
  EXPECT_EQ(busy.fired(), 0u);
  EXPECT_EQ(point.hit_or_fault({Fault::busy}), Fault::busy);
  EXPECT_EQ(point.hit_or_fault({Fault::busy}), std::nullopt);  // once
  hooks.fault("fault.hooked", Fault::timeout).times(2);
  EXPECT_EQ(point.hit_or_fault({Fault::timeout}), Fault::timeout);
  EXPECT_EQ(point.hit_or_fault({Fault::timeout}), Fault::timeout);
  EXPECT_EQ(point.hit_or_fault({Fault::timeout}), std::nullopt);
  hooks.fault("fault.plain", Fault::crash);
  auto plain = [] { RACELAB_POINT("fault.plain"); };
  EXPECT_THROW(plain(), racelab::InjectedCrash);
  EXPECT_NO_THROW(plain());
}

TEST(Faults, TheHookSpecArmsThem) {
  racelab::Point point("fault.spec");
  racelab::Hooks hooks;
  hooks.arm("fault.spec=fault:serialization:2;fault.spec=fault:lost_before:always");
  EXPECT_EQ(point.hit_or_fault({Fault::serialization}), Fault::serialization);
  EXPECT_EQ(point.hit_or_fault({Fault::serialization, Fault::lost_before}), Fault::serialization);
  for (int i = 0; i < 3; ++i)
    EXPECT_EQ(point.hit_or_fault({Fault::serialization, Fault::lost_before}), Fault::lost_before);
  for (const char* bad : {"a.b=fault:gremlin", "a.b=fault:busy:0", "a.b=fault", "a.b=fault:busy:twice"})
    EXPECT_THROW(hooks.arm(bad), racelab::HookSpecError) << bad;
  try {
    hooks.arm("a.b=fault:gremlin");
  } catch (const racelab::HookSpecError& e) {
    EXPECT_NE(std::string(e.what()).find("unknown fault 'gremlin' (known: crash, lost_before"),
              std::string::npos)
        << e.what();
  }
}

namespace {

struct SqliteDb {
  racelab::sqlite::Connection db = racelab::sqlite::Connection::open(
      "file:/fault_" + std::to_string(counter()++) + "?vfs=memdb", {.uri = true});
  SqliteDb() { db.exec("CREATE TABLE t(n INTEGER NOT NULL)"); }
  std::int64_t rows() { return db.query_int64("SELECT count(*) FROM t").value(); }
  static int& counter() {
    static int n = 0;
    return n;
  }
};

}  // namespace

// Each fault at a SQLite statement in a transaction surfaces as SQLite's own error (a deadlock is
// offered only there: outside one SQLite cannot deadlock); `lost_after_commit` does commit.
TEST(SqliteFaults, EachSurfacesAsSqlitesOwnError) {
  const std::map<Fault, int> codes{{Fault::lost_before, SQLITE_IOERR},
                                   {Fault::timeout, SQLITE_INTERRUPT},
                                   {Fault::busy, SQLITE_BUSY},
                                   {Fault::deadlock, SQLITE_BUSY},
                                   {Fault::serialization, SQLITE_BUSY_SNAPSHOT}};
  for (auto [fault, code] : codes) {
    SqliteDb s;
    racelab::Hooks hooks;
    hooks.fault("sql.insert.t", fault);
    try {
      racelab::sqlite::Transaction tx(s.db);
      s.db.run("INSERT INTO t VALUES (1)");
      FAIL() << racelab::to_string(fault) << " was not raised";
    } catch (const racelab::sqlite::Error& e) {
      EXPECT_EQ(e.code(), code) << racelab::to_string(fault) << ": " << e.what();
      EXPECT_NE(std::string(e.what()).find("racelab fault " + std::string(racelab::to_string(fault))),
                std::string::npos)
          << e.what();
      EXPECT_EQ(fault == Fault::busy || fault == Fault::deadlock || fault == Fault::serialization,
                dynamic_cast<const racelab::sqlite::Busy*>(&e) != nullptr);
    }
    EXPECT_EQ(s.rows(), 0) << racelab::to_string(fault) << ": the statement ran";
  }
  {
    SqliteDb s;
    racelab::Hooks hooks;
    hooks.fault("sql.insert.t", Fault::deadlock);
    s.db.run("INSERT INTO t VALUES (1)");  // autocommit: not offered, so not taken
    EXPECT_EQ(s.rows(), 1);
  }
  for (auto [fault, committed] : {std::pair{Fault::lost_before, 0}, std::pair{Fault::lost_after_commit, 1}}) {
    SqliteDb s;
    racelab::Hooks hooks;
    hooks.fault("sql.commit", fault);
    {
      racelab::sqlite::Transaction tx(s.db);
      s.db.run("INSERT INTO t VALUES (1)");
      EXPECT_THROW(tx.commit(), racelab::sqlite::Error);
    }
    EXPECT_EQ(s.rows(), committed) << racelab::to_string(fault);
  }
}
