#include "bank/idempotency.hpp"

namespace lab::bank {

void check_idempotency_key(std::string_view key) {
  if (key.empty()) throw std::invalid_argument("the Idempotency-Key is empty");
  if (key.size() > 255)
    throw std::invalid_argument("the Idempotency-Key is " + std::to_string(key.size()) +
                                " characters long (at most 255)");
  for (char c : key)
    if (c < 0x21 || c > 0x7e)
      throw std::invalid_argument("the Idempotency-Key may hold only visible ASCII characters (no spaces)");
}

KeysInFlight::Claim KeysInFlight::claim(const std::string& key) {
  if (key.empty()) return Claim(nullptr, {});
  std::lock_guard lk(mu_);
  if (!keys_.insert(key).second)
    throw KeyInFlight("a request with Idempotency-Key '" + key +
                      "' is still in flight: retry when it has answered");
  return Claim(this, key);
}

KeysInFlight::Claim::~Claim() {
  if (!owner_) return;
  std::lock_guard lk(owner_->mu_);
  owner_->keys_.erase(key_);
}

}  // namespace lab::bank
