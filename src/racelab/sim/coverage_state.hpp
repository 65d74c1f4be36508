// Private to racelab: what a Coverage holds, shared by coverage.cpp (counting, merging, reports)
// and coverage_json.cpp (the JSON form).
//
// Names are interned to small ids: points and tasks each get one id per distinct name. A window
// row is keyed by (task, from, to) ids; rows whose task is kAny (and maybe whose `to` is kAny)
// aggregate a window start over every task, for warnings(). Per-run counting uses stamps: a row
// remembers the last run that counted it, so a window met five times in a run counts once.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "racelab/coverage.hpp"
#include "racelab/detail/flat_index.hpp"

namespace racelab {

inline constexpr std::uint32_t kAny = 0xffffffffu;  // "any task" / "any end point"; "*" in JSON
inline constexpr std::string_view kAnyName = "*";

// Distinct names, each with a dense id.
struct Names {
  std::vector<std::string> names;
  std::map<std::string, std::uint32_t, std::less<>> ids;
  // The id of `name`, new if need be; `fresh` is set when it was.
  std::uint32_t intern(std::string_view name, bool* fresh = nullptr);
  std::uint32_t find(std::string_view name) const;  // kAny if unknown
};

struct WindowKey {
  std::uint32_t task = 0, from = 0, to = 0;
  bool operator==(const WindowKey&) const = default;
};

struct WindowKeyHash {
  std::size_t operator()(const WindowKey& k) const {
    return std::uint64_t{k.task} << 42 ^ std::uint64_t{k.from} << 21 ^ k.to;
  }
};

struct PointerHash {
  std::size_t operator()(const char* p) const { return reinterpret_cast<std::uintptr_t>(p); }
};

struct IdentityHash {  // for keys that are hashes already
  std::size_t operator()(std::uint64_t h) const { return h; }
};

struct EnteredBy {
  std::uint32_t task = 0;
  std::uint64_t runs = 0;
  std::uint64_t last_run = 0;
};

struct WindowRow {
  WindowKey key;
  std::uint64_t runs = 0, entered = 0;
  std::uint64_t last_run = 0, last_entered_run = 0;  // stamps: the last run counted
  std::vector<EnteredBy> by;                         // per-task rows only
  std::uint32_t any_task_row = kAny;                 // (kAny, from, to), per-task rows only
  std::uint32_t any_end_row = kAny;                  // (kAny, from, kAny), per-task rows only
};

// The distinct schedules: exact hashes up to kExactSchedulesMax, then HyperLogLog registers.
struct ScheduleSet {
  static constexpr int kPrecision = 14;
  static constexpr std::size_t kRegisters = std::size_t{1} << kPrecision;
  static constexpr std::uint8_t kRankMax = 64 - kPrecision + 1;

  detail::FlatIndex<std::uint64_t, IdentityHash> exact;
  std::vector<std::uint8_t> registers;  // empty while exact

  bool is_exact() const { return registers.empty(); }
  void add(std::uint64_t hash);
  void merge(const ScheduleSet& other);
  std::uint64_t count() const;
  std::vector<std::uint64_t> sorted_hashes() const;

 private:
  void to_registers();
  void add_to_registers(std::uint64_t hash);
};

struct Coverage::State {
  std::uint64_t runs = 0;
  Names points, tasks;
  std::vector<char> reached;  // by point id
  std::vector<WindowRow> rows;
  detail::FlatIndex<WindowKey, WindowKeyHash> row_ids;
  ScheduleSet schedules;

  // Per-run scratch, kept to reuse its memory. Point ids by the name's address: trace steps view
  // names that live as long as the process (string literals, interned runtime points) or at least
  // as long as the run; a hit is confirmed by comparing the text, so a reused address is harmless.
  // Each address's text is compared once per run: within a run the trace keeps it alive.
  detail::FlatIndex<const char*, PointerHash> point_by_address;  // -> index into `addresses`
  struct Address {
    std::uint32_t point = 0;
    std::uint64_t checked_run = 0;
  };
  std::vector<Address> addresses;
  std::vector<std::string> last_tasks;  // the last trace's task names, and
  std::vector<std::uint32_t> task_ids;  // their ids
  struct Open {
    std::uint32_t from = kAny;  // the point the task last arrived at, kAny if none is open
    std::size_t step = 0;
  };
  std::vector<Open> open;

  // The id of the point a step names. Inline: it runs at every step.
  std::uint32_t point_id(std::string_view name) {
    const std::uint32_t* slot = point_by_address.find(name.data());
    if (slot != nullptr && addresses[*slot].checked_run == runs) [[likely]]
      return addresses[*slot].point;
    return learn_point(name, slot);
  }
  // The row for `key`, created (with its aggregate rows) if need be.
  std::uint32_t row(WindowKey key) {
    if (const std::uint32_t* id = row_ids.find(key)) [[likely]]
      return *id;
    return new_row(key);
  }

 private:
  std::uint32_t learn_point(std::string_view name, const std::uint32_t* slot);
  std::uint32_t new_row(WindowKey key);
};

}  // namespace racelab
