// Private to racelab: a small open-addressing hash index from a key to a 32-bit value.
//
// Coverage looks up a point's name pointer and a window's key at every step of every run; a
// node-based std::unordered_map costs an allocation per insert and a pointer chase per lookup,
// this costs one probe sequence in one flat array. Linear probing, power-of-two capacity, at most
// half full, no erase (coverage only ever learns new keys). Not thread-safe.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace racelab::detail {

// A 64-bit finaliser (SplitMix64's): every input bit flips about half the output bits.
constexpr std::uint64_t mix64(std::uint64_t x) noexcept {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

// `Hash` maps a Key to 64 bits that differ for different keys (no mixing needed: the index
// multiplies by 2^64/phi and keeps the top bits, Fibonacci hashing); Key needs operator==.
template <class Key, class Hash>
class FlatIndex {
 public:
  std::size_t size() const { return size_; }

  // The value stored for `key`, or nullptr.
  const std::uint32_t* find(const Key& key) const {
    if (size_ == 0) return nullptr;
    for (std::size_t i = home(key);; i = (i + 1) & mask_) {
      const Slot& s = slots_[i];
      if (!s.used) return nullptr;
      if (s.key == key) return &s.value;
    }
  }

  // Stores `value` for `key` unless it is there; returns the stored value and whether it was new.
  std::pair<std::uint32_t, bool> insert(const Key& key, std::uint32_t value) {
    Slot& s = slot(key);
    if (s.used) return {s.value, false};
    s = Slot{key, value, true};
    ++size_;
    return {value, true};
  }

  // Stores `value` for `key`, replacing what was there.
  void assign(const Key& key, std::uint32_t value) {
    Slot& s = slot(key);
    if (!s.used) ++size_;
    s = Slot{key, value, true};
  }

  template <class F>
  void for_each(F&& f) const {
    for (const Slot& s : slots_)
      if (s.used) f(s.key, s.value);
  }

  void clear() {
    slots_.clear();
    size_ = 0;
    mask_ = 0;
    shift_ = 63;
  }

 private:
  struct Slot {
    Key key{};
    std::uint32_t value = 0;
    bool used = false;
  };

  // The slot holding `key`, or the free slot where it would go (after growing if need be).
  Slot& slot(const Key& key) {
    if (2 * (size_ + 1) > slots_.size()) grow();
    for (std::size_t i = home(key);; i = (i + 1) & mask_) {
      Slot& s = slots_[i];
      if (!s.used || s.key == key) return s;
    }
  }

  std::size_t home(const Key& key) const {
    return static_cast<std::size_t>((Hash{}(key)*0x9e3779b97f4a7c15ULL) >> shift_);
  }

  void grow() {
    std::vector<Slot> old = std::move(slots_);
    slots_.assign(old.empty() ? 16 : old.size() * 2, Slot{});
    mask_ = slots_.size() - 1;
    shift_ = 64 - std::countr_zero(slots_.size());
    size_ = 0;
    for (const Slot& s : old)
      if (s.used) insert(s.key, s.value);
  }

  std::vector<Slot> slots_;
  std::size_t size_ = 0;
  std::size_t mask_ = 0;
  int shift_ = 63;
};

}  // namespace racelab::detail
