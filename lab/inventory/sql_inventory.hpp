// lab/inventory/sql_inventory.hpp — the Rails shop on SQLite, PostgreSQL or MariaDB: never oversold.
//
//   unsafe        read quantity; write quantity - 1; insert the order
//   mutex         under an in-process lock
//   pessimistic   SELECT … FOR UPDATE / BEGIN IMMEDIATE        nowait: … NOWAIT, DbBusy at once
//   optimistic    UPDATE … WHERE version = ?; retry on 0 rows
//   atomic        UPDATE products SET quantity = quantity - 1 WHERE id = ? AND quantity > 0
//   constraint    CHECK (quantity >= 0); the violation is "out of stock"
//   serializable  SERIALIZABLE transaction, retry on conflict
// A connection pool of fixed size (the Rails test checks it up front): one connection per buyer.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/db.hpp"
#include "common/strategy.hpp"
#include "inventory/inventory.hpp"

namespace lab::inventory {

class SqlShop {
 public:
  explicit SqlShop(Db& db) : db_(db) {}
  static void reset(Db& db, Strategy strategy, std::int64_t quantity);
  static void restock(Db& db, std::int64_t quantity);        // quantity back, orders gone
  void buy(const std::string& customer, Strategy strategy);  // throws OutOfStock, DbBusy, DbConflict
  std::int64_t quantity();
  std::int64_t orders();

 private:
  void in_transaction(const std::string& customer, TxMode mode, Strategy strategy);
  Db& db_;
};

// A fixed set of connections to one database; `size()` is what a test checks before it starts.
class DbPool {
 public:
  DbPool(const std::string& url, int size);
  int size() const { return static_cast<int>(dbs_.size()); }
  Db& at(int i) { return *dbs_.at(static_cast<std::size_t>(i)); }

 private:
  std::vector<std::unique_ptr<Db>> dbs_;
};

}  // namespace lab::inventory
