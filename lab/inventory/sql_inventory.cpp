#include "inventory/sql_inventory.hpp"

#include <racelab/point.hpp>

#include "common/sql_strategy.hpp"

namespace lab::inventory {

void SqlShop::reset(Db& db, Strategy strategy, std::int64_t quantity) {
  db.script(std::string("DROP TABLE IF EXISTS orders; DROP TABLE IF EXISTS products;"
                        "CREATE TABLE products(id INTEGER PRIMARY KEY, quantity BIGINT NOT NULL") +
            (strategy == Strategy::constraint ? " CHECK (quantity >= 0)" : "") +
            ", version BIGINT NOT NULL DEFAULT 0);"
            "CREATE TABLE orders(customer TEXT NOT NULL, product INTEGER NOT NULL);");
  db.run("INSERT INTO products(id, quantity) VALUES (1, ?)", {quantity});
}

void SqlShop::restock(Db& db, std::int64_t quantity) {
  db.run("DELETE FROM orders", {});
  db.run("UPDATE products SET quantity = ?, version = 0 WHERE id = 1", {quantity});
}

std::int64_t SqlShop::quantity() {
  return db_.query_int64("SELECT quantity FROM products WHERE id = 1", {}).value();
}
std::int64_t SqlShop::orders() { return db_.query_int64("SELECT count(*) FROM orders", {}).value(); }

void SqlShop::in_transaction(const std::string& customer, TxMode mode, Strategy strategy) {
  NoWait nowait(db_, strategy == Strategy::nowait);
  Tx tx(db_, mode);
  const bool lock = strategy == Strategy::pessimistic || strategy == Strategy::nowait;
  auto q = db_.query_int64(std::string("SELECT quantity FROM products WHERE id = 1") +
                               (lock ? row_lock(db_, strategy) : ""),
                           {})
               .value();
  if (q < 1) throw OutOfStock();
  db_.run("UPDATE products SET quantity = ? WHERE id = 1", {q - 1});
  db_.run("INSERT INTO orders(customer, product) VALUES (?, 1)", {customer});
  tx.commit();
}

void SqlShop::buy(const std::string& customer, Strategy strategy) {
  const std::int64_t seen = quantity();  // outside any lock
  RACELAB_POINT("inventory.after_read");
  switch (strategy) {
    case Strategy::unsafe:
      if (seen < 1) throw OutOfStock();
      db_.run("UPDATE products SET quantity = ? WHERE id = 1", {seen - 1});
      db_.run("INSERT INTO orders(customer, product) VALUES (?, 1)", {customer});
      return;
    case Strategy::mutex: {
      std::lock_guard lock(process_lock("inventory"));
      auto q = quantity();
      if (q < 1) throw OutOfStock();
      db_.run("UPDATE products SET quantity = ? WHERE id = 1", {q - 1});
      db_.run("INSERT INTO orders(customer, product) VALUES (?, 1)", {customer});
      return;
    }
    case Strategy::pessimistic:
    case Strategy::nowait: return in_transaction(customer, TxMode::write, strategy);
    case Strategy::serializable:
      return with_retries(20, [&] { in_transaction(customer, TxMode::serializable, strategy); });
    case Strategy::optimistic:
      for (int attempt = 1;; ++attempt) {
        // The version first: a quantity read after it is at least as new, so a stale pair fails the CAS.
        auto version = db_.query_int64("SELECT version FROM products WHERE id = 1", {}).value();
        auto q = quantity();
        if (q < 1) throw OutOfStock();
        Tx tx(db_, TxMode::read);
        if (db_.run("UPDATE products SET quantity = ?, version = version + 1 WHERE id = 1 AND version = ?",
                    {q - 1, version}) == 1) {
          db_.run("INSERT INTO orders(customer, product) VALUES (?, 1)", {customer});
          tx.commit();
          return;
        }
        if (attempt >= 50) throw DbConflict("optimistic purchase: gave up after 50 attempts");
        backoff(attempt);
      }
    case Strategy::atomic:
    case Strategy::constraint: {
      Tx tx(db_, TxMode::read);
      std::int64_t changed = 0;
      try {
        changed =
            strategy == Strategy::atomic
                ? db_.run("UPDATE products SET quantity = quantity - 1 WHERE id = 1 AND quantity > 0", {})
                : db_.run("UPDATE products SET quantity = quantity - 1 WHERE id = 1", {});
      } catch (const DbConstraint&) {
        changed = 0;  // CHECK (quantity >= 0)
      }
      if (changed == 0) throw OutOfStock();
      db_.run("INSERT INTO orders(customer, product) VALUES (?, 1)", {customer});
      tx.commit();
      return;
    }
  }
}

DbPool::DbPool(const std::string& url, int size) {
  for (int i = 0; i < size; ++i) dbs_.push_back(open_db(url));
}

}  // namespace lab::inventory
