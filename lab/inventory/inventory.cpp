#include "inventory/inventory.hpp"

#include <racelab/point.hpp>

#include <algorithm>
#include <atomic>

namespace lab::inventory {

void Shop::reset(std::int64_t quantity) {
  std::lock_guard lk(store_mu_);
  initial_ = quantity;
  quantity_ = quantity;
  orders_.clear();
}

void Shop::buy(const std::string& customer, Strategy strategy) {
  if (strategy != Strategy::unsafe && strategy != Strategy::mutex)
    throw StrategyNotApplicable(strategy, "the in-memory shop (it has no database)");
  std::int64_t seen = quantity();
  RACELAB_POINT("inventory.after_read");
  std::unique_lock lock(buy_mu_, std::defer_lock);
  if (strategy == Strategy::mutex) {
    lock.lock();
    seen = quantity();
  }
  if (seen < 1) throw OutOfStock();
  std::lock_guard lk(store_mu_);
  quantity_ = seen - 1;  // written from what was read: a stale read oversells
  orders_.push_back(customer);
}

std::int64_t Shop::quantity() const {
  std::lock_guard lk(store_mu_);
  return quantity_;
}

std::int64_t Shop::initial_quantity() const {
  std::lock_guard lk(store_mu_);
  return initial_;
}

std::int64_t Shop::orders() const {
  std::lock_guard lk(store_mu_);
  return static_cast<std::int64_t>(orders_.size());
}

bool Shop::oversold() const {
  std::lock_guard lk(store_mu_);
  auto sold = static_cast<std::int64_t>(orders_.size());
  return sold > initial_ || quantity_ + sold != initial_;
}

racelab::StressReport rush(Strategy strategy, int iterations, int customers, std::int64_t quantity) {
  Shop shop(quantity);
  std::atomic<int> refused{0};
  const auto expected_refused = std::max<std::int64_t>(0, customers - quantity);
  return racelab::stress(
      racelab::StressOptions{.threads = customers, .iterations = iterations},
      [&] {
        shop.reset(quantity);
        refused = 0;
      },
      [&](int i) {
        try {
          shop.buy("customer-" + std::to_string(i), strategy);
        } catch (const OutOfStock&) {
          ++refused;
        }
      },
      [&]() -> std::string {
        if (shop.oversold())
          return "oversold: " + std::to_string(shop.orders()) + " orders for " + std::to_string(quantity) +
                 " items, quantity now " + std::to_string(shop.quantity());
        if (refused != expected_refused)
          return std::to_string(refused.load()) + " customers refused, expected " +
                 std::to_string(expected_refused);
        return "";
      });
}

}  // namespace lab::inventory
