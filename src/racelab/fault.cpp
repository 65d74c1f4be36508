// Fault names and sets. See racelab/fault.hpp.
#include "racelab/fault.hpp"

#include <array>
#include <stdexcept>

namespace racelab {
namespace {

constexpr std::array<std::string_view, kFaultKinds> kNames{
    "crash", "lost_before", "lost_after_commit", "timeout", "deadlock", "serialization", "busy"};

}  // namespace

std::string_view to_string(Fault fault) { return kNames[static_cast<std::size_t>(fault)]; }

std::optional<Fault> parse_fault(std::string_view name) {
  for (std::size_t i = 0; i < kNames.size(); ++i)
    if (kNames[i] == name) return static_cast<Fault>(i);
  return std::nullopt;
}

std::string fault_names() {
  std::string out;
  for (auto n : kNames) out += (out.empty() ? "" : ", ") + std::string(n);
  return out;
}

FaultSet FaultSet::parse(std::string_view list) {
  if (list == "all") return all();
  FaultSet out;
  while (!list.empty()) {
    auto comma = list.find(',');
    auto name = list.substr(0, comma);
    while (!name.empty() && name.front() == ' ') name.remove_prefix(1);
    while (!name.empty() && name.back() == ' ') name.remove_suffix(1);
    auto f = parse_fault(name);
    if (!f)
      throw std::invalid_argument("unknown fault '" + std::string(name) + "' (known: " + fault_names() +
                                  ", or all)");
    out.bits_ |= bit(*f);
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return out;
}

std::string FaultSet::text() const {
  std::string out;
  for (int i = 0; i < kFaultKinds; ++i)
    if (contains(static_cast<Fault>(i)))
      out += (out.empty() ? "" : ",") + std::string(kNames[static_cast<std::size_t>(i)]);
  return out;
}

}  // namespace racelab
