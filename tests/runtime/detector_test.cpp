// The race detector alone (runtime/rt/detector.cpp), linked with fake_runtime.cpp instead of the
// driver: one OS thread plays every program thread by switching the fake current_tid(), and
// addresses are plain numbers (the detector computes with them, it never dereferences them).
//
// Groups: the report's contents; happens-before through sync objects, thread creation and join;
// atomics; byte-exact overlap across granules; benign, forgotten and ignored accesses; reset and
// uncontrolled threads; the counters and the bounds (stack depth, range length, the shadow flush);
// and a property over generated programs, checked against a reference vector-clock model.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <iterator>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "detector.hpp"
#include "runtime.hpp"

// What fake_runtime.cpp adds beside runtime.hpp's declarations.
namespace racelab::rt::fake {
void set_tid(std::uint32_t tid) noexcept;
const std::vector<Race>& races() noexcept;
void clear_races() noexcept;
}  // namespace racelab::rt::fake

namespace {

namespace rt = racelab::rt;
namespace detector = racelab::rt::detector;
namespace fake = racelab::rt::fake;
using rt::Race;
using Stack = std::vector<std::uint64_t>;

constexpr std::uint64_t kX = 0x10'0000;  // granule-aligned addresses, far apart
constexpr std::uint64_t kY = 0x20'0000;
constexpr std::uint64_t kZ = 0x30'0000;
constexpr std::uint64_t kM = 0x90'0000;  // sync objects
constexpr std::uint64_t kN = 0x90'0040;

const void* at(std::uint64_t addr) { return reinterpret_cast<const void*>(addr); }

void access(std::uint32_t tid, std::uint64_t pc, std::uint64_t addr, std::size_t size, bool write,
            bool atomic) {
  fake::set_tid(tid);
  detector::on_access(pc, at(addr), size, write, atomic);
}
void write(std::uint32_t tid, std::uint64_t pc, std::uint64_t addr, std::size_t size = 4) {
  access(tid, pc, addr, size, true, false);
}
void read(std::uint32_t tid, std::uint64_t pc, std::uint64_t addr, std::size_t size = 4) {
  access(tid, pc, addr, size, false, false);
}
void release(std::uint32_t tid, std::uint64_t sync) {
  fake::set_tid(tid);
  detector::release(at(sync));
}
void acquire(std::uint32_t tid, std::uint64_t sync) {
  fake::set_tid(tid);
  detector::acquire(at(sync));
}

const std::vector<Race>& races() { return fake::races(); }

// A new run, as the runtime starts one in the forked child: reset, then main starts.
void new_run() {
  detector::reset();
  fake::clear_races();
  fake::set_tid(0);
  detector::thread_started(0);
}

class Detector : public ::testing::Test {
 protected:
  void SetUp() override { new_run(); }
  // The shadow call stack belongs to the OS thread, which every test shares.
  void TearDown() override {
    while (detector::t_stack.depth != 0) detector::func_exit();
  }
};

// --- the report ---------------------------------------------------------------------------------

// Two unordered 4-byte writes to one int: one report naming both threads, and each side's stack
// as the access pc followed by its func_entry call sites, innermost first.
TEST_F(Detector, UnorderedWritesReportOneRaceWithBothSides) {
  fake::set_tid(1);
  detector::func_entry(0x100);
  write(1, 0x1111, kX);
  detector::func_exit();
  fake::set_tid(2);
  detector::func_entry(0x200);
  detector::func_entry(0x210);
  write(2, 0x2222, kX);
  detector::func_exit();
  detector::func_exit();

  ASSERT_EQ(races().size(), 1u);
  const Race& r = races()[0];
  EXPECT_EQ(r.addr, kX);
  EXPECT_EQ(r.current.tid, 2u);
  EXPECT_TRUE(r.current.write);
  EXPECT_FALSE(r.current.atomic);
  EXPECT_EQ(r.current.size, 4u);
  EXPECT_EQ(r.current.stack, (Stack{0x2222, 0x210, 0x200}));
  EXPECT_EQ(r.previous.tid, 1u);
  EXPECT_TRUE(r.previous.write);
  EXPECT_FALSE(r.previous.atomic);
  EXPECT_EQ(r.previous.size, 4u);
  EXPECT_EQ(r.previous.stack, (Stack{0x1111, 0x100}));

  write(2, 0x2222, kX);  // the same pair of pcs again: deduplicated within the run
  EXPECT_EQ(races().size(), 1u);
  EXPECT_EQ(detector::stats().races, 1u);
}

// Write then unordered read, and read then unordered write, each race; two reads never do.
TEST_F(Detector, ReadWriteRacesButReadReadDoesNot) {
  write(1, 0x11, kX);
  read(2, 0x12, kX);
  ASSERT_EQ(races().size(), 1u);
  EXPECT_FALSE(races()[0].current.write);
  EXPECT_TRUE(races()[0].previous.write);

  read(1, 0x21, kY);
  write(2, 0x22, kY);
  ASSERT_EQ(races().size(), 2u);
  EXPECT_TRUE(races()[1].current.write);
  EXPECT_FALSE(races()[1].previous.write);

  read(1, 0x31, kZ);
  read(2, 0x32, kZ);
  EXPECT_EQ(races().size(), 2u);
}

// Call stacks keep the outermost kStackDepthMax frames of a deeper stack.
TEST_F(Detector, DeepStacksKeepTheOutermostFrames) {
  fake::set_tid(1);
  for (std::uint64_t i = 0; i < detector::kStackDepthMax + 10; ++i) detector::func_entry(0x1000 + i);
  write(1, 0x11, kX);
  while (detector::t_stack.depth != 0) detector::func_exit();
  write(2, 0x22, kX);
  ASSERT_EQ(races().size(), 1u);
  const Stack& s = races()[0].previous.stack;
  ASSERT_EQ(s.size(), 1 + detector::kStackDepthMax);
  EXPECT_EQ(s[0], 0x11u);
  EXPECT_EQ(s[1], 0x1000u + detector::kStackDepthMax - 1);
  EXPECT_EQ(s.back(), 0x1000u);
  EXPECT_EQ(races()[0].current.stack, (Stack{0x22}));
}

// --- happens-before -----------------------------------------------------------------------------

// Red, then green: thread 1 writes and releases m; thread 2 writes, first without acquiring m
// (a race), then, in a new run, after acquiring it (none).
TEST_F(Detector, ReleaseThenAcquireOrders) {
  for (const bool acquires : {false, true}) {
    new_run();
    write(1, 0x11, kX);
    release(1, kM);
    if (acquires) acquire(2, kM);
    write(2, 0x22, kX);
    EXPECT_EQ(races().size(), acquires ? 0u : 1u) << "acquires=" << acquires;
  }
}

// What the releasing thread does after the release is not covered by it.
TEST_F(Detector, AccessesAfterTheReleaseStayUnordered) {
  write(1, 0x11, kX);
  release(1, kM);
  write(1, 0x12, kY);
  acquire(2, kM);
  write(2, 0x21, kX);
  EXPECT_EQ(races().size(), 0u);
  write(2, 0x22, kY);
  ASSERT_EQ(races().size(), 1u);
  EXPECT_EQ(races()[0].previous.stack.front(), 0x12u);
}

// Acquiring an object nobody released orders nothing and creates no sync object.
TEST_F(Detector, AcquireOfAnUnreleasedObjectOrdersNothing) {
  write(1, 0x11, kX);
  acquire(2, kN);
  write(2, 0x22, kX);
  EXPECT_EQ(races().size(), 1u);
  EXPECT_EQ(detector::stats().sync_objects, 0u);
}

// Red, then green: the parent's write before creating thread 1 races with the child's unless the
// creation is seen; what the parent does after it races either way.
TEST_F(Detector, ThreadCreatedOrdersParentBeforeChild) {
  for (const bool created : {false, true}) {
    new_run();
    write(0, 0x01, kX);
    if (created) detector::thread_created(1);
    write(0, 0x02, kY);
    fake::set_tid(1);
    detector::thread_started(1);
    write(1, 0x11, kX);
    EXPECT_EQ(races().size(), created ? 0u : 1u) << "created=" << created;
    const std::size_t before = races().size();
    write(1, 0x12, kY);
    EXPECT_EQ(races().size(), before + 1) << "created=" << created;
  }
}

// Red, then green: the child's write races with the joiner's unless the join is seen; joining
// thread 1 orders nothing of thread 2's.
TEST_F(Detector, ThreadJoinedOrdersChildBeforeJoiner) {
  for (const bool joined : {false, true}) {
    new_run();
    write(2, 0x21, kY);
    write(1, 0x11, kX);
    detector::thread_finished();
    fake::set_tid(0);
    if (joined) detector::thread_joined(1);
    write(0, 0x01, kX);
    EXPECT_EQ(races().size(), joined ? 0u : 1u) << "joined=" << joined;
    const std::size_t before = races().size();
    write(0, 0x02, kY);
    EXPECT_EQ(races().size(), before + 1) << "joined=" << joined;
  }
}

// A thread id reused after a join starts past its old epochs: a thread that joined the first
// incarnation is not ordered with the second.
TEST_F(Detector, ReusedThreadIdIsNotCoveredByTheOldJoin) {
  fake::set_tid(0);
  detector::thread_created(1);
  write(1, 0x11, kX);
  detector::thread_finished();
  fake::set_tid(2);
  detector::thread_joined(1);
  write(2, 0x21, kX);
  EXPECT_EQ(races().size(), 0u);
  fake::set_tid(0);
  detector::thread_created(1);  // the second incarnation
  fake::set_tid(1);
  detector::thread_started(1);
  write(1, 0x12, kY);
  write(2, 0x22, kY);
  EXPECT_EQ(races().size(), 1u);
}

// --- atomics ------------------------------------------------------------------------------------

// Atomic against atomic never races; atomic against plain does, when one of them writes.
TEST_F(Detector, AtomicsRaceOnlyWithPlainAccesses) {
  access(1, 0x11, kX, 4, true, true);
  access(2, 0x21, kX, 4, true, true);
  access(2, 0x22, kX, 4, false, true);
  EXPECT_EQ(races().size(), 0u);

  read(3, 0x31, kX);
  ASSERT_GE(races().size(), 1u);
  EXPECT_FALSE(races()[0].current.atomic);
  EXPECT_TRUE(races()[0].previous.atomic);

  const std::size_t before = races().size();
  write(1, 0x12, kY);
  access(2, 0x23, kY, 4, false, true);
  ASSERT_EQ(races().size(), before + 1);
  EXPECT_TRUE(races().back().current.atomic);
  EXPECT_FALSE(races().back().previous.atomic);

  access(1, 0x13, kZ, 4, false, true);
  read(2, 0x24, kZ);
  EXPECT_EQ(races().size(), before + 1);  // two reads
}

// --- granules and overlap -----------------------------------------------------------------------

// Accesses of different sizes race on their common bytes; the report names the first of them.
TEST_F(Detector, PartialOverlapRacesAtTheFirstCommonByte) {
  write(1, 0x11, kX, 8);
  read(2, 0x21, kX + 6, 2);
  ASSERT_EQ(races().size(), 1u);
  EXPECT_EQ(races()[0].addr, kX + 6);
  EXPECT_EQ(races()[0].current.size, 2u);
  EXPECT_EQ(races()[0].previous.size, 8u);
}

// Threads writing different bytes of one granule do not race; a thread writing all eight bytes
// then races with each access the granule remembers. A granule remembers 3: of eight one-byte
// writes, the last three (round robin evicts the oldest), and the others are missed.
TEST_F(Detector, DifferentBytesOfOneGranuleDoNotRace) {
  write(1, 0x11, kX, 2);
  write(2, 0x21, kX + 2, 2);
  write(3, 0x31, kX + 4, 4);
  EXPECT_EQ(races().size(), 0u);
  write(4, 0x41, kX, 8);
  EXPECT_EQ(races().size(), 3u);

  for (std::uint32_t i = 0; i < 8; ++i) write(10 + i, 0x100 + i, kY + i, 1);
  EXPECT_EQ(races().size(), 3u);
  write(20, 0x200, kY + 5, 3);
  EXPECT_EQ(races().size(), 6u);
  write(21, 0x210, kY, 5);
  EXPECT_EQ(races().size(), 6u);
}

// A same-epoch access is not remembered when an earlier one of its thread covers it, unless it
// is stronger (a write after a read, a plain access after an atomic one); another thread's access
// with the same epoch number never covers it.
TEST_F(Detector, CoveringNeverHidesAStrongerAccess) {
  read(1, 0x11, kX);
  write(1, 0x12, kX);
  read(2, 0x21, kX);
  ASSERT_EQ(races().size(), 1u);
  EXPECT_EQ(races()[0].previous.stack.front(), 0x12u);

  access(1, 0x13, kY, 4, true, true);
  write(1, 0x14, kY);
  access(2, 0x22, kY, 4, false, true);
  ASSERT_EQ(races().size(), 2u);
  EXPECT_EQ(races()[1].previous.stack.front(), 0x14u);

  write(1, 0x15, kZ);  // thread 1's epoch 1
  release(1, kM);
  acquire(2, kM);
  write(2, 0x23, kZ);  // thread 2's epoch 1, ordered after thread 1's write
  acquire(3, kM);
  write(3, 0x31, kZ);  // ordered after thread 1's write, not thread 2's
  ASSERT_EQ(races().size(), 3u);
  EXPECT_EQ(races()[2].previous.stack.front(), 0x23u);
}

// A later access replaces the earlier ones it subsumes, but not a stronger one: a read does not
// replace a write, an atomic access does not replace a plain one.
TEST_F(Detector, ReplacingNeverDropsAStrongerAccess) {
  write(1, 0x11, kX);
  release(1, kM);  // a new epoch: the next access is not covered, it may replace
  read(1, 0x12, kX);
  read(2, 0x21, kX);
  ASSERT_EQ(races().size(), 1u);
  EXPECT_EQ(races()[0].previous.stack.front(), 0x11u);

  write(1, 0x13, kY);
  release(1, kM);
  access(1, 0x14, kY, 4, true, true);
  access(2, 0x22, kY, 4, true, true);
  ASSERT_EQ(races().size(), 2u);
  EXPECT_EQ(races()[1].previous.stack.front(), 0x13u);
}

// A 4-byte write at offset 6 spans two granules: it races with bytes 6..9 only.
TEST_F(Detector, UnalignedAccessRacesAcrossTheGranuleBoundary) {
  write(1, 0x11, kX + 6, 4);
  write(2, 0x21, kX + 5, 1);
  write(3, 0x31, kX + 10, 2);
  EXPECT_EQ(races().size(), 0u);
  write(4, 0x41, kX + 9, 1);
  ASSERT_EQ(races().size(), 1u);
  EXPECT_EQ(races()[0].addr, kX + 9);
  write(5, 0x51, kX + 7, 1);
  ASSERT_EQ(races().size(), 2u);
  EXPECT_EQ(races()[1].addr, kX + 7);
}

// A 16-byte access covers two granules: it races with either half, and with another 16-byte
// access once (the pair of pcs is deduplicated across granules).
TEST_F(Detector, SixteenByteAccessesRaceOnEitherHalfOnce) {
  write(1, 0x11, kX, 16);
  read(2, 0x21, kX + 12, 4);
  ASSERT_EQ(races().size(), 1u);
  EXPECT_EQ(races()[0].addr, kX + 12);

  write(1, 0x12, kY, 16);
  write(3, 0x31, kY, 16);
  ASSERT_EQ(races().size(), 2u);
  EXPECT_EQ(races()[1].addr, kY);
  EXPECT_EQ(races()[1].current.size, 16u);
}

// A range access checks each of its bytes and none beyond; past kRangeBytesMax it is cut short.
TEST_F(Detector, RangeAccessesCoverTheirBytesUpToTheBound) {
  write(1, 0x11, kX + 3, 100);
  write(2, 0x21, kX + 2, 1);
  write(2, 0x22, kX + 103, 1);
  EXPECT_EQ(races().size(), 0u);
  write(2, 0x23, kX + 102, 1);
  ASSERT_EQ(races().size(), 1u);
  EXPECT_EQ(races()[0].current.size, 1u);
  EXPECT_EQ(races()[0].addr, kX + 102);

  write(1, 0x12, kY, 2 * detector::kRangeBytesMax);
  write(2, 0x24, kY + detector::kRangeBytesMax, 1);  // beyond the bound: missed, as documented
  EXPECT_EQ(races().size(), 1u);
  write(2, 0x25, kY + detector::kRangeBytesMax - 1, 1);
  EXPECT_EQ(races().size(), 2u);
}

// Empty accesses, and ranges that would wrap around the address space, remember nothing.
TEST_F(Detector, EmptyAndWrappingAccessesDoNothing) {
  write(1, 0x11, kX, 0);
  write(1, 0x12, ~std::uint64_t{0} - 3, 16);
  EXPECT_EQ(detector::stats().granules, 0u);
}

// --- benign, forgotten and ignored accesses ---------------------------------------------------

// Races on a benign range are not reported, in this run or the next (ranges outlive reset); the
// bytes beside it still race. Its own addresses: benign ranges cannot be removed.
TEST_F(Detector, BenignRangeSuppressesOnlyItsBytes) {
  constexpr std::uint64_t kBenign = 0x70'0000;
  detector::benign_range(at(kBenign), 8);
  for (int run = 0; run < 2; ++run) {
    new_run();
    write(1, 0x11, kBenign);
    write(2, 0x21, kBenign);
    EXPECT_EQ(races().size(), 0u) << "run " << run;
    write(1, 0x12, kBenign + 8);
    write(2, 0x22, kBenign + 8);
    EXPECT_EQ(races().size(), 1u) << "run " << run;
  }
}

// Red, then green: forgetting a range (memory new again) drops its accesses, byte-exact.
TEST_F(Detector, ForgetRangeForgetsItsBytesOnly) {
  for (const bool forget : {false, true}) {
    new_run();
    write(1, 0x11, kX, 8);
    if (forget) detector::forget_range(at(kX), 4);
    write(2, 0x21, kX, 4);
    EXPECT_EQ(races().size(), forget ? 0u : 1u) << "forget=" << forget;
    write(2, 0x22, kX + 4, 4);
    EXPECT_EQ(races().size(), forget ? 1u : 2u) << "forget=" << forget;
  }
}

// A forgotten range longer than kRangeBytesMax is forgotten up to that bound only.
TEST_F(Detector, ForgetRangeStopsAtTheBound) {
  write(1, 0x11, kX);
  write(1, 0x12, kX + detector::kRangeBytesMax);
  detector::forget_range(at(kX), 2 * detector::kRangeBytesMax);
  write(2, 0x21, kX);
  EXPECT_EQ(races().size(), 0u);
  write(2, 0x22, kX + detector::kRangeBytesMax);
  EXPECT_EQ(races().size(), 1u);
}

// Ignored writes are neither checked nor remembered; ignoring reads leaves writes alone.
TEST_F(Detector, IgnoredAccessesAreNotRemembered) {
  fake::set_tid(1);
  detector::ignore_begin(detector::Ignore::writes);
  write(1, 0x11, kX);
  read(1, 0x12, kY);
  detector::ignore_end(detector::Ignore::writes);
  detector::ignore_begin(detector::Ignore::reads);
  write(1, 0x13, kZ);
  detector::ignore_end(detector::Ignore::reads);
  write(2, 0x21, kX);
  EXPECT_EQ(races().size(), 0u);
  write(2, 0x22, kY);
  write(2, 0x23, kZ);
  EXPECT_EQ(races().size(), 2u);
}

// ignore_begin/ignore_end nest, and an unmatched ignore_end does not wrap into "ignore forever".
TEST_F(Detector, IgnoreCallsNestAndAnUnmatchedEndIsHarmless) {
  fake::set_tid(1);
  detector::ignore_end(detector::Ignore::accesses);  // unmatched
  detector::ignore_begin(detector::Ignore::accesses);
  detector::ignore_begin(detector::Ignore::accesses);
  detector::ignore_end(detector::Ignore::accesses);
  write(1, 0x11, kX);  // still inside the outer pair
  detector::ignore_end(detector::Ignore::accesses);
  write(1, 0x12, kY);
  read(1, 0x13, kZ);
  write(2, 0x21, kX);
  write(2, 0x22, kY);
  write(2, 0x23, kZ);
  ASSERT_EQ(races().size(), 2u);
  EXPECT_EQ(races()[0].previous.stack.front(), 0x12u);
  EXPECT_EQ(races()[1].previous.stack.front(), 0x13u);
}

// Red, then green: a release or an acquire made while ignoring sync is no edge.
TEST_F(Detector, IgnoredSyncOrdersNothing) {
  for (const int ignoring : {1, 2, 0}) {  // the releasing thread, the acquiring one, neither
    new_run();
    write(1, 0x11, kX);
    fake::set_tid(1);
    if (ignoring == 1) detector::ignore_begin(detector::Ignore::sync);
    release(1, kM);
    if (ignoring == 1) detector::ignore_end(detector::Ignore::sync);
    fake::set_tid(2);
    if (ignoring == 2) detector::ignore_begin(detector::Ignore::sync);
    acquire(2, kM);
    if (ignoring == 2) detector::ignore_end(detector::Ignore::sync);
    write(2, 0x21, kX);
    EXPECT_EQ(races().size(), ignoring != 0 ? 1u : 0u) << "ignoring=" << ignoring;
  }
}

// --- reset and uncontrolled threads -----------------------------------------------------------

// reset forgets accesses, sync clocks (a release from the last run orders nothing in this one,
// though the epochs repeat) and the reported pairs; stacks still on the thread resolve afresh.
TEST_F(Detector, ResetForgetsTheLastRun) {
  fake::set_tid(1);
  detector::func_entry(0xa0);
  write(1, 0x11, kX);
  release(1, kM);
  write(2, 0x21, kX);
  ASSERT_EQ(races().size(), 1u);

  new_run();
  const detector::Stats s = detector::stats();
  EXPECT_EQ(s.granules, 0u);
  EXPECT_EQ(s.sync_objects, 0u);
  EXPECT_EQ(s.stack_nodes, 0u);
  EXPECT_EQ(s.races, 0u);
  write(2, 0x22, kY);
  EXPECT_EQ(races().size(), 0u);  // the last run's write to kX is gone

  write(1, 0x11, kX);
  acquire(2, kM);
  write(2, 0x21, kX);  // the same pcs as last run: reported again
  ASSERT_EQ(races().size(), 1u);
  EXPECT_EQ(races()[0].previous.stack, (Stack{0x11, 0xa0}));
  EXPECT_EQ(races()[0].current.stack, (Stack{0x21, 0xa0}));
}

// A thread outside control (kNoTid) is invisible: its accesses, sync and ignores do nothing.
TEST_F(Detector, UncontrolledThreadDoesNothing) {
  write(1, 0x11, kX);
  fake::set_tid(rt::wire::kNoTid);
  detector::ignore_begin(detector::Ignore::accesses);
  detector::on_access(0xf1, at(kX), 4, true, false);
  detector::on_access(0xf2, at(kY), 4, true, false);
  detector::acquire(at(kM));
  detector::release(at(kN));
  detector::thread_created(2);
  detector::thread_joined(1);
  detector::thread_started(rt::wire::kNoTid);
  EXPECT_EQ(races().size(), 0u);
  EXPECT_EQ(detector::stats().granules, 1u);
  EXPECT_EQ(detector::stats().sync_objects, 0u);
  write(2, 0x21, kX);
  ASSERT_EQ(races().size(), 1u);
  EXPECT_EQ(races()[0].previous.tid, 1u);
}

// --- counters and the shadow's bound ----------------------------------------------------------

// stats() counts granules (an access per granule it touches), sync objects, distinct frames and
// reported races.
TEST_F(Detector, StatsCount) {
  write(1, 0x11, kX);
  write(1, 0x12, kY, 16);
  write(1, 0x13, kZ + 6, 4);
  EXPECT_EQ(detector::stats().granules, 5u);
  release(1, kM);
  release(2, kN);
  acquire(2, kM + 8);
  EXPECT_EQ(detector::stats().sync_objects, 2u);
  fake::set_tid(1);
  detector::func_entry(0xa);
  detector::func_entry(0xb);
  write(1, 0x14, kX);
  detector::func_exit();
  detector::func_entry(0xc);
  write(1, 0x15, kX);
  write(1, 0x16, kX);
  detector::func_exit();
  detector::func_exit();
  EXPECT_EQ(detector::stats().stack_nodes, 3u);  // (root, a), (a, b), (a, c)
  write(2, 0x21, kX);
  write(2, 0x22, kY);
  EXPECT_EQ(detector::stats().races, races().size());
  EXPECT_EQ(detector::stats().races, 2u);
  EXPECT_EQ(detector::stats().shadow_flushes, 0u);
}

// The shadow holds kShadowGranulesMax granules (a race on one of them is found), and the next
// new granule flushes it whole: the races that needed the old accesses are missed, none is
// invented, and new races are found again. About a million accesses.
TEST_F(Detector, ShadowFlushMissesRacesButNeverInventsThem) {
  write(1, 0x11, kX);
  write(1, 0x12, kY);
  constexpr std::uint64_t kFill = 0x1'0000'0000;
  for (std::uint64_t i = 2; i < detector::kShadowGranulesMax; ++i) write(1, 0x13, kFill + i * 8, 8);
  ASSERT_EQ(detector::stats().granules, detector::kShadowGranulesMax);
  write(2, 0x21, kX);
  EXPECT_EQ(races().size(), 1u);
  EXPECT_EQ(detector::stats().shadow_flushes, 0u);

  write(1, 0x14, kFill);  // one granule more
  EXPECT_EQ(detector::stats().shadow_flushes, 1u);
  EXPECT_EQ(detector::stats().granules, 1u);
  write(2, 0x22, kY);  // thread 1's write was flushed: missed
  write(2, 0x23, kFill + 1, 1);
  EXPECT_EQ(races().size(), 2u);  // thread 1's write of kFill is remembered again
  release(2, kM);
  acquire(3, kM);
  write(3, 0x31, kY);
  EXPECT_EQ(races().size(), 2u);
}

// --- the property: the detector beside a reference model -----------------------------------------

constexpr std::uint32_t kModelThreads = 4;
constexpr std::uint32_t kModelSyncs = 2;
constexpr std::uint64_t kModelBase = 0x40'0000;  // the program's memory: a few granules from here
constexpr std::uint64_t kModelSync = 0x50'0000;
constexpr std::uint64_t kModelPc = 0x1'0000;  // access #i has pc kModelPc + i
using Clock = std::array<std::uint64_t, kModelThreads>;

void merge(Clock& into, const Clock& from) {
  for (std::uint32_t i = 0; i < kModelThreads; ++i) into[i] = std::max(into[i], from[i]);
}

bool ordered(const Clock& before, const Clock& after) {
  for (std::uint32_t i = 0; i < kModelThreads; ++i) {
    if (before[i] > after[i]) return false;
  }
  return true;
}

struct ModelAccess {
  std::uint32_t tid;
  std::uint64_t begin;  // [begin, end), offsets from kModelBase
  std::uint64_t end;
  bool write;
  bool atomic;
  Clock clock;  // the thread's clock at the access
};

// The reference: happens-before as textbook vector clocks (every event ticks its thread's own
// entry; an access happens before another when its clock is pointwise <=), checked against every
// access ever made: no epochs, no eviction, no subsumption, no flush.
class Model {
 public:
  void start(std::uint32_t t) { ++c_[t][t]; }
  void create(std::uint32_t parent, std::uint32_t child) {
    c_[child] = c_[parent];
    ++c_[child][child];
    ++c_[parent][parent];
  }
  void join(std::uint32_t t, std::uint32_t joined) {
    merge(c_[t], c_[joined]);
    ++c_[t][t];
  }
  void release(std::uint32_t t, std::uint32_t s) {
    merge(s_[s], c_[t]);
    ++c_[t][t];
  }
  void acquire(std::uint32_t t, std::uint32_t s) {
    merge(c_[t], s_[s]);
    ++c_[t][t];
  }

  // Remembers an access; returns the earlier ones it races with.
  std::set<std::size_t> access(std::uint32_t t, std::uint64_t begin, std::uint64_t end, bool write,
                               bool atomic) {
    ++c_[t][t];
    std::set<std::size_t> racy;
    for (std::size_t i = 0; i < history_.size(); ++i) {
      const ModelAccess& p = history_[i];
      if (p.begin < end && begin < p.end && (p.write || write) && !(p.atomic && atomic) &&
          !ordered(p.clock, c_[t])) {
        racy.insert(i);
      }
    }
    history_.push_back({t, begin, end, write, atomic, c_[t]});
    return racy;
  }

  const ModelAccess& operator[](std::size_t i) const { return history_[i]; }
  std::size_t size() const { return history_.size(); }

 private:
  std::array<Clock, kModelThreads> c_{};
  std::array<Clock, kModelSyncs> s_{};
  std::vector<ModelAccess> history_;
};

// One generated program, run on the detector and the model side by side, every choice from one
// seeded stream. Thread 0 runs from the start and creates 1..3 (each from a random running thread)
// before the random steps; a thread may finish and be joined by another (thread 0 never is). With `bounded`,
// no granule is touched by more than 3 accesses, so the detector never evicts.
class Scenario {
 public:
  Scenario(std::uint64_t seed, std::uint64_t granules, bool bounded)
      : rng_(seed), bytes_(granules * 8), bounded_(bounded) {}

  void run(int steps) {
    new_run();
    model_.start(0);
    life_[0] = Life::running;
    for (std::uint32_t t = 1; t < kModelThreads; ++t) step_create();
    for (int i = 0; i < steps; ++i) {
      const std::uint64_t r = pick(20);
      if (r < 12) {
        step_access();
      } else if (r < 18) {
        step_sync(r < 15);
      } else {
        step_join();
      }
    }
  }

  std::set<std::size_t> model_racy;     // accesses the model finds racing with an earlier one
  std::set<std::size_t> detector_racy;  // accesses the detector reported
  std::string log() const { return log_.str(); }

 private:
  enum class Life { unborn, running, finished };

  std::uint64_t pick(std::uint64_t n) { return rng_() % n; }  // not a distribution: same on every library

  std::uint32_t running_thread() {
    std::vector<std::uint32_t> running;
    for (std::uint32_t t = 0; t < kModelThreads; ++t) {
      if (life_[t] == Life::running) running.push_back(t);
    }
    return running[pick(running.size())];
  }

  bool room(std::uint64_t begin, std::uint64_t end) const {
    for (std::uint64_t g = begin / 8; g <= (end - 1) / 8; ++g) {
      if (touches_[g] >= 3) return false;
    }
    return true;
  }

  void step_access() {
    static constexpr std::uint64_t kSizes[] = {1, 2, 4, 8, 16, 3, 5, 11};
    for (int attempt = 0; attempt < 8; ++attempt) {
      const std::uint64_t begin = pick(bytes_);
      const std::uint64_t end = begin + std::min(kSizes[pick(std::size(kSizes))], bytes_ - begin);
      if (bounded_ && !room(begin, end)) continue;
      for (std::uint64_t g = begin / 8; g <= (end - 1) / 8; ++g) ++touches_[g];
      // Half the time the last thread again: same-thread sequences exercise subsumption.
      const std::uint32_t t = pick(2) == 0 && life_[last_] == Life::running ? last_ : running_thread();
      last_ = t;
      const bool write = pick(2) == 0;
      const bool atomic = pick(4) == 0;
      const std::size_t index = model_.size();
      log_ << "#" << index << " t" << t << (atomic ? " atomic" : "") << (write ? " write " : " read ")
           << begin << ".." << end << "\n";
      const std::set<std::size_t> racy = model_.access(t, begin, end, write, atomic);
      if (!racy.empty()) model_racy.insert(index);
      const std::size_t first = races().size();
      access(t, kModelPc + index, kModelBase + begin, end - begin, write, atomic);
      check_reports(index, first, racy);
      return;
    }
  }

  void step_sync(bool is_release) {
    const std::uint32_t t = running_thread();
    const auto s = static_cast<std::uint32_t>(pick(kModelSyncs));
    log_ << "t" << t << (is_release ? " release " : " acquire ") << "s" << s << "\n";
    if (is_release) {
      release(t, kModelSync + 8 * s);
      model_.release(t, s);
    } else {
      acquire(t, kModelSync + 8 * s);
      model_.acquire(t, s);
    }
  }

  void step_create() {
    std::uint32_t child = 1;
    while (life_[child] != Life::unborn) ++child;  // run() creates each of 1..3 once
    const std::uint32_t parent = running_thread();
    log_ << "t" << parent << " creates t" << child << "\n";
    fake::set_tid(parent);
    detector::thread_created(child);
    fake::set_tid(child);
    detector::thread_started(child);
    model_.create(parent, child);
    life_[child] = Life::running;
  }

  void step_join() {
    const std::uint32_t joined = running_thread();
    const std::uint32_t t = running_thread();
    if (joined == 0 || t == joined) return;  // thread 0 never finishes: someone always runs
    log_ << "t" << t << " joins t" << joined << "\n";
    fake::set_tid(joined);
    detector::thread_finished();
    fake::set_tid(t);
    detector::thread_joined(joined);
    model_.join(t, joined);
    life_[joined] = Life::finished;
  }

  // The reports access #index made: each names it and an earlier access the model says it races
  // with, with that access's thread and kind, at a byte both cover.
  void check_reports(std::size_t index, std::size_t first, const std::set<std::size_t>& racy) {
    const ModelAccess& b = model_[index];
    for (std::size_t i = first; i < races().size(); ++i) {
      const Race& r = races()[i];
      detector_racy.insert(index);
      ASSERT_FALSE(r.current.stack.empty() || r.previous.stack.empty());
      EXPECT_EQ(r.current.stack.front(), kModelPc + index);
      const std::size_t p = r.previous.stack.front() - kModelPc;
      ASSERT_TRUE(racy.contains(p)) << "false positive: #" << index << " with #" << p << "\n" << log();
      const ModelAccess& a = model_[p];
      EXPECT_EQ(r.current.tid, b.tid);
      EXPECT_EQ(r.previous.tid, a.tid);
      EXPECT_EQ(r.current.write, b.write);
      EXPECT_EQ(r.previous.write, a.write);
      EXPECT_EQ(r.current.atomic, b.atomic);
      EXPECT_EQ(r.previous.atomic, a.atomic);
      const std::uint64_t addr = r.addr - kModelBase;
      EXPECT_TRUE(addr >= std::max(a.begin, b.begin) && addr < std::min(a.end, b.end)) << addr;
    }
  }

  std::mt19937_64 rng_;
  std::uint64_t bytes_;
  bool bounded_;
  Model model_;
  std::array<Life, kModelThreads> life_{};
  std::uint32_t last_ = 0;                   // the thread of the last access
  std::array<std::uint32_t, 64> touches_{};  // accesses per granule (bounded_: at most 3)
  std::ostringstream log_;
};

// Each seed checks kProgramsPerSeed programs (a program's seed: seed * kProgramsPerSeed + i).
constexpr std::uint64_t kProgramsPerSeed = 25;
class DetectorProperty : public ::testing::TestWithParam<std::uint64_t> {};

// 150 steps over 3 granules, so granules overflow and evict: every race the detector reports is
// one the model has, between the accesses it names, at a byte both cover. Some programs must lose
// a race to eviction (the bound was reached), and none may gain one.
TEST_P(DetectorProperty, NeverReportsARaceTheModelLacks) {
  int racy = 0;
  int missed = 0;
  for (std::uint64_t i = 0; i < kProgramsPerSeed; ++i) {
    const std::uint64_t seed = GetParam() * kProgramsPerSeed + i;
    Scenario scenario(seed, 3, false);
    scenario.run(150);
    ASSERT_FALSE(HasFailure()) << "program seed " << seed;
    ASSERT_TRUE(std::includes(scenario.model_racy.begin(), scenario.model_racy.end(),
                              scenario.detector_racy.begin(), scenario.detector_racy.end()))
        << "program seed " << seed << "\n"
        << scenario.log();
    racy += !scenario.model_racy.empty();
    missed += scenario.detector_racy != scenario.model_racy;
  }
  EXPECT_GT(racy, 0) << "the programs must have races to find";
  EXPECT_GT(missed, 0) << "some program must overflow a granule";
}

// 60 steps, at most 3 accesses per granule (nothing evicted): the detector reports exactly the
// accesses the model finds racing. Their partner may differ: a remembered access stands for the
// ones it subsumed (ordered before it, within its bytes, no stronger).
TEST_P(DetectorProperty, FindsEveryRacyAccessWhenNothingIsEvicted) {
  int racy = 0;
  for (std::uint64_t i = 0; i < kProgramsPerSeed; ++i) {
    const std::uint64_t seed = GetParam() * kProgramsPerSeed + i;
    Scenario scenario(seed, 3, true);
    scenario.run(60);
    ASSERT_FALSE(HasFailure()) << "program seed " << seed;
    ASSERT_EQ(scenario.detector_racy, scenario.model_racy) << "program seed " << seed << "\n"
                                                           << scenario.log();
    racy += !scenario.model_racy.empty();
  }
  EXPECT_GT(racy, 0) << "the programs must have races to find";
}

INSTANTIATE_TEST_SUITE_P(Seeds, DetectorProperty, ::testing::Range<std::uint64_t>(1, 41),
                         [](const ::testing::TestParamInfo<std::uint64_t>& seed) {
                           return "seed_" + std::to_string(seed.param);
                         });

}  // namespace
