// lab/inventory/inventory.hpp — a shop that must never sell more than it has (the Rails test).
//
// `buy` reads the quantity, checks it, and writes quantity - 1 with an order. Under `unsafe` four
// buyers of the last three items can all read 3 and all succeed: oversold. Under `mutex` the check
// is repeated inside a lock, so exactly one of the four gets OutOfStock.
//
//   lab::inventory::Shop shop(3);
//   shop.buy("ann", lab::Strategy::mutex);
//   assert(shop.quantity() == 2 && shop.orders() == 1);
//
// As in the bank, the window point `inventory.after_read` sits after a read made outside any lock.
#pragma once

#include <cstdint>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include <racelab/sim/sync.hpp>
#include <racelab/stress.hpp>

#include "common/strategy.hpp"

namespace lab::inventory {

class OutOfStock : public std::runtime_error {
 public:
  OutOfStock() : std::runtime_error("out of stock") {}
};

class Shop {
 public:
  explicit Shop(std::int64_t quantity) { reset(quantity); }
  void reset(std::int64_t quantity);
  void buy(const std::string& customer, Strategy strategy);  // throws OutOfStock
  std::int64_t quantity() const;
  std::int64_t initial_quantity() const;
  std::int64_t orders() const;
  bool oversold() const;  // more orders than items, or stock that does not add up

 private:
  mutable std::mutex store_mu_;        // makes each read or write atomic on its own, like a database row
  racelab::mutex buy_mu_{"shop.buy"};  // the `mutex` strategy (schedulable in a simulation)
  std::int64_t initial_ = 0;
  std::int64_t quantity_ = 0;
  std::vector<std::string> orders_;
};

// The Rails test as a stress run: `customers` threads released together buy one item each from a
// shop holding `quantity`. An iteration violates the invariant if the shop is oversold or if the
// number of refused customers is not exactly customers - quantity.
racelab::StressReport rush(Strategy strategy, int iterations, int customers = 4, std::int64_t quantity = 3);

}  // namespace lab::inventory
