// lab/bank/idempotency.hpp — a transfer retried with the same key moves money once.
//
//   lab::bank::KeysInFlight in_flight;                       // one per process
//   auto claim = in_flight.claim(key);                       // throws KeyInFlight while another runs it
//   lab::bank::SqlBank bank(db);
//   auto r = bank.transfer("alice", "bob", 800, lab::Strategy::atomic, key);
//   if (bank.replayed()) { /* the original result, read back from the ledger; nothing moved */ }
//
// The rule (the IETF httpapi Idempotency-Key draft's semantics, in domain terms):
//   - The key is stored with the transfer's ledger row, under a unique index, in the transaction that
//     moves the money. So "applied" and "remembered" commit together, or neither does: a crash
//     between them is impossible, and a retry after a lost answer finds the row.
//   - The same key with the same transfer (from, to, amount) returns the original result — the same
//     ledger row, a refusal included — without moving money again.
//   - The same key with another transfer is IdempotencyMismatch: nothing runs.
//   - Two requests with one key at once: in one process the second is KeyInFlight (try again later).
//     Across processes both may run; the unique index lets one commit, the other rolls back its
//     money with its row and answers with the winner's result.
// A key is 1 to 255 visible ASCII characters (check_idempotency_key).
#pragma once

#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>

namespace lab::bank {

// The key was used before for a different transfer.
class IdempotencyMismatch : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

// A request with this key is still running in this process.
class KeyInFlight : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Throws std::invalid_argument naming what is wrong with `key` (empty, too long, not visible ASCII).
void check_idempotency_key(std::string_view key);

// The keys being executed right now in this process.
class KeysInFlight {
 public:
  // Holds a key until destroyed. An empty key claims nothing.
  class Claim {
   public:
    Claim(Claim&& other) noexcept : owner_(other.owner_), key_(std::move(other.key_)) {
      other.owner_ = nullptr;
    }
    Claim& operator=(Claim&&) = delete;
    ~Claim();

   private:
    friend class KeysInFlight;
    Claim(KeysInFlight* owner, std::string key) : owner_(owner), key_(std::move(key)) {}
    KeysInFlight* owner_;
    std::string key_;
  };
  // Throws KeyInFlight when `key` is already claimed.
  Claim claim(const std::string& key);

 private:
  std::mutex mu_;
  std::set<std::string, std::less<>> keys_;
};

}  // namespace lab::bank
