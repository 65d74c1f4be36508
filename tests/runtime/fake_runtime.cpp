// A stand-in for the part of racelab_rt that talks to the driver (channel.cpp, interpose.cpp), so
// that detector.cpp can be tested alone: no program, no driver, no fork. It defines everything
// runtime.hpp declares outside namespace detector; detector.cpp itself uses only current_tid() and
// report_race() (checked with `nm -u` on detector.o), the rest keeps the stand-in complete.
//
// The test drives it through racelab::rt::fake (declared again at the top of detector_test.cpp):
//
//   fake::set_tid(1);                                      // the "current thread" from now on
//   detector::on_access(0x1000, &x, 4, true, false);
//   ASSERT_EQ(fake::races().size(), 1u);                   // every report_race, in order
//
// One OS thread plays every program thread, so nothing here locks.
#include <cstdint>
#include <vector>

#include "runtime.hpp"

namespace racelab::rt {

bool g_controlled = true;
bool g_detect = true;
bool g_all_accesses = false;
std::uint32_t g_point_pc_count = 0;

namespace fake {
namespace {
std::uint32_t g_tid = 0;
std::vector<Race> g_races;
}  // namespace

void set_tid(std::uint32_t tid) noexcept { g_tid = tid; }
const std::vector<Race>& races() noexcept { return g_races; }
void clear_races() noexcept { g_races.clear(); }
}  // namespace fake

std::uint32_t current_tid() noexcept { return fake::g_tid; }

bool is_point_pc(std::uint64_t) noexcept { return false; }

void access_point(wire::Op, std::uint64_t, const void*, std::uint64_t) noexcept {}

// The real one deduplicates by the pair of pcs too; recording every call lets the tests see the
// detector's own deduplication.
void report_race(const Race& race) noexcept { fake::g_races.push_back(race); }

}  // namespace racelab::rt
