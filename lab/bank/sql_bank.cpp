#include "bank/sql_bank.hpp"

#include "bank/idempotency.hpp"
#include "common/sql_strategy.hpp"

#include <racelab/outcome.hpp>
#include <racelab/point.hpp>
#include <racelab/sim/simulation.hpp>
#include <racelab/sim/sync.hpp>

#include <atomic>
#include <optional>

namespace lab::bank {
namespace {

// The `mutex` strategy's lock: one per process, which is exactly its weakness.
racelab::mutex& process_lock() {
  static racelab::mutex m{"bank.process_lock"};
  return m;
}

constexpr int kAttempts = 20;

TransferResult refused(std::int64_t from_balance, std::int64_t to_balance) {
  return {TransferStatus::failed_insufficient_funds, from_balance, from_balance, to_balance, to_balance};
}

}  // namespace

void SqlBank::reset(Db& db, Strategy strategy) {
  const bool check = strategy == Strategy::constraint;
  // opening_balance: what the audit starts from (balance = opening + the ledger's movements).
  db.script(std::string("DROP TABLE IF EXISTS accounts;"
                        "CREATE TABLE accounts(id ") +
            key_text(db) + " PRIMARY KEY, balance BIGINT NOT NULL" + (check ? " CHECK (balance >= 0)" : "") +
            ", version BIGINT NOT NULL DEFAULT 0, opening_balance BIGINT NOT NULL);"
            "INSERT INTO accounts(id, balance, opening_balance) VALUES ('alice', 1000, 1000), "
            "('bob', 500, 500), ('charlie', 200, 200);");
  ledger::create(db);
}

bool SqlBank::ensure_schema(Db& db, Strategy strategy) {
  try {
    db.query_int64("SELECT count(*) FROM transfers", {});
    db.query_int64("SELECT count(opening_balance) FROM accounts", {});
  } catch (const std::exception&) {
    reset(db, strategy);
    return true;
  }
  return ledger::upgrade(db);
}

bool SqlBank::has_balance_check(Db& db) {
  if (db.backend() == Backend::mariadb)
    return db.query_int64(
                 "SELECT count(*) FROM information_schema.CHECK_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = "
                 "DATABASE() AND TABLE_NAME = 'accounts'",
                 {})
               .value_or(0) > 0;
  if (db.backend() == Backend::postgres)
    return db.query_int64(
                 "SELECT count(*) FROM pg_constraint WHERE conrelid = 'accounts'::regclass AND contype = 'c'",
                 {})
               .value_or(0) > 0;
  auto rows = db.query_text("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'accounts'", {});
  return !rows.empty() && rows[0][0].find("CHECK") != std::string::npos;
}

void SqlBank::reset_many(Db& db, Strategy strategy, int accounts, std::int64_t balance) {
  reset(db, strategy);
  db.run("DELETE FROM accounts", {});
  db.begin(TxMode::write);
  for (int i = 0; i < accounts; ++i) {
    std::string id = "a";  // appended, not "a" + std::to_string(i): GCC 12 -O3's false -Wrestrict
    id += std::to_string(i);
    db.run("INSERT INTO accounts(id, balance, opening_balance) VALUES (?, ?, ?)", {id, balance, balance});
  }
  db.commit();
}

std::int64_t SqlBank::read_balance(const std::string& id, const char* lock_clause) {
  auto b = db_.query_int64(std::string("SELECT balance FROM accounts WHERE id = ?") + lock_clause, {id});
  if (!b) throw UnknownAccount(id);
  return *b;
}

std::int64_t SqlBank::balance(const std::string& id) { return read_balance(id); }

// Adds `delta` to the balance and returns the balance this write itself left, not whatever a later
// read would see: UPDATE … RETURNING, or on MariaDB (which has no UPDATE … RETURNING) the row read
// back in the same transaction while the UPDATE's row lock keeps everyone else off it.
std::int64_t SqlBank::add(const std::string& id, std::int64_t delta) {
  if (db_.backend() != Backend::mariadb)
    return db_
        .query_int64("UPDATE accounts SET balance = balance + ? WHERE id = ? RETURNING balance", {delta, id})
        .value();
  db_.run("UPDATE accounts SET balance = balance + ? WHERE id = ?", {delta, id});
  return read_balance(id);
}

std::int64_t SqlBank::total() {
  return db_.query_int64("SELECT COALESCE(SUM(balance), 0) FROM accounts", {}).value_or(0);
}

TransferResult SqlBank::transfer(const std::string& from, const std::string& to, std::int64_t amount,
                                 Strategy strategy, std::string_view idempotency_key) {
  if (amount <= 0) throw InvalidTransfer("amount must be positive, got " + std::to_string(amount));
  if (from == to) throw InvalidTransfer("cannot transfer from '" + from + "' to itself");
  replayed_ = false;
  key_ = idempotency_key;
  if (key_.empty()) return run(from, to, amount, strategy);
  try {
    check_idempotency_key(key_);
  } catch (const std::invalid_argument& e) {
    throw InvalidTransfer(e.what());
  }
  if (auto row = ledger::find(db_, key_)) return replay(*row, from, to, amount);
  try {
    return run(from, to, amount, strategy);
  } catch (const DbConstraint&) {
    // Another request with this key committed first (another process): this transaction rolled
    // back its money with its row, and the winner's row is the answer.
    RACELAB_POINT("transfer.key_taken");
    if (auto row = ledger::find(db_, key_)) return replay(*row, from, to, amount);
    throw;
  }
}

TransferResult SqlBank::replay(const LedgerRow& row, const std::string& from, const std::string& to,
                               std::int64_t amount) {
  if (row.from != from || row.to != to || row.amount != amount)
    throw IdempotencyMismatch("Idempotency-Key '" + key_ + "' was used for another transfer (" + row.from +
                              " -> " + row.to + " " + std::to_string(row.amount) + ", " + row.id +
                              "); this request is " + from + " -> " + to + " " + std::to_string(amount));
  recorded_ = row;
  replayed_ = true;
  const auto status = row.status == to_string(TransferStatus::success)
                          ? TransferStatus::success
                          : TransferStatus::failed_insufficient_funds;
  return {status, row.from_balance_before, row.from_balance_after, row.to_balance_before,
          row.to_balance_after};
}

TransferResult SqlBank::run(const std::string& from, const std::string& to, std::int64_t amount,
                            Strategy strategy) {
  const std::int64_t seen = read_balance(from);  // the check's read, outside any lock
  const std::int64_t to_seen = read_balance(to);
  RACELAB_POINT("transfer.after_read");
  strategy_ = strategy;
  switch (strategy) {
    case Strategy::unsafe: {
      if (seen < amount) return record(from, to, amount, refused(seen, to_seen));
      // The check above is the bug; the writes and their ledger row still commit together.
      Tx tx(db_, TxMode::write);
      const std::int64_t after = add(from, -amount);
      RACELAB_POINT("transfer.between_debit_and_credit");
      const std::int64_t to_after = add(to, amount);
      auto r = record(from, to, amount, {TransferStatus::success, seen, after, to_seen, to_after});
      tx.commit();
      return r;
    }
    case Strategy::mutex: {
      // The in-process lock is all this strategy has: no database transaction, no row lock.
      std::lock_guard lock(process_lock());
      return in_transaction(from, to, amount, std::nullopt, "");
    }
    case Strategy::pessimistic:
      return in_transaction(from, to, amount, TxMode::write, row_lock(db_, strategy));
    case Strategy::nowait: {
      db_.set_lock_timeout(std::chrono::milliseconds(0));
      struct Restore {
        Db& db;
        ~Restore() { db.set_lock_timeout(std::chrono::milliseconds(5000)); }
      } restore{db_};
      return in_transaction(from, to, amount, TxMode::write, row_lock(db_, strategy));
    }
    case Strategy::optimistic: return optimistic(from, to, amount);
    case Strategy::atomic: return atomic(from, to, amount, false);
    case Strategy::constraint: return atomic(from, to, amount, true);
    case Strategy::serializable:
      return with_retries(kAttempts, [&] {
        try {
          return in_transaction(from, to, amount, TxMode::serializable, "");
        } catch (const DbConflict&) {
          ++retries_;
          throw;
        }
      });
  }
  throw StrategyNotApplicable(strategy, "the SQL bank");
}

// Read, check and write inside one transaction; `lock_clause` makes the read lock the row.
TransferResult SqlBank::in_transaction(const std::string& from, const std::string& to, std::int64_t amount,
                                       std::optional<TxMode> mode, const char* lock_clause) {
  std::optional<Tx> tx;
  if (mode) tx.emplace(db_, *mode);
  // Rows are locked, and written, in account order: two transfers in opposite directions then wait
  // for each other in a line instead of a cycle (a deadlock PostgreSQL would break after a second).
  const bool from_first = from < to;
  std::int64_t now = 0, to_now = 0;
  if (from_first) {
    now = read_balance(from, lock_clause);
    to_now = read_balance(to, lock_clause);
  } else {
    to_now = read_balance(to, lock_clause);
    now = read_balance(from, lock_clause);
  }
  // Inside the critical section: a delay here (never a barrier, see docs/hooks.md) widens the window
  // that only the critical section protects.
  RACELAB_POINT("transfer.after_locked_read");
  if (now < amount) {
    auto r = record(from, to, amount, refused(now, to_now));
    if (tx) tx->commit();
    return r;
  }
  // `mutex` checked outside any transaction (its bug); its writes and ledger row still share one.
  if (!tx) tx.emplace(db_, TxMode::write);
  auto debit = [&] { db_.run("UPDATE accounts SET balance = balance - ? WHERE id = ?", {amount, from}); };
  auto credit = [&] { db_.run("UPDATE accounts SET balance = balance + ? WHERE id = ?", {amount, to}); };
  from_first ? debit() : credit();
  RACELAB_POINT("transfer.between_debit_and_credit");
  from_first ? credit() : debit();
  auto r = record(from, to, amount, {TransferStatus::success, now, now - amount, to_now, to_now + amount});
  tx->commit();
  return r;
}

TransferResult SqlBank::optimistic(const std::string& from, const std::string& to, std::int64_t amount) {
  for (int attempt = 1;; ++attempt) {
    auto version = db_.query_int64("SELECT version FROM accounts WHERE id = ?", {from});
    const std::int64_t now = read_balance(from);
    const std::int64_t to_now = read_balance(to);
    if (!version) throw UnknownAccount(from);
    if (now < amount) return record(from, to, amount, refused(now, to_now));
    RACELAB_POINT("transfer.before_compare_and_set");
    Tx tx(db_, TxMode::read);
    // Both writes in account order (see in_transaction); the compare-and-set decides either way.
    auto debit = [&] {
      return db_.run(
                 "UPDATE accounts SET balance = balance - ?, version = version + 1 WHERE id = ? AND version "
                 "= ?",
                 {amount, from, *version}) == 1;
    };
    // A credit leaves the version alone: more money never invalidates someone's funds check.
    auto credit = [&] {
      db_.run("UPDATE accounts SET balance = balance + ? WHERE id = ?", {amount, to});
      return true;
    };
    const bool from_first = from < to;
    if (from_first ? debit() : credit()) {
      RACELAB_POINT("transfer.between_debit_and_credit");
      if (from_first ? credit() : debit()) {
        auto r =
            record(from, to, amount, {TransferStatus::success, now, now - amount, to_now, to_now + amount});
        tx.commit();
        return r;
      }
    }
    // The version moved: another transfer debited the source since we read it. Roll back, retry.
    if (attempt >= kAttempts)
      throw DbConflict("optimistic transfer: the version kept changing; gave up after " +
                       std::to_string(kAttempts) + " attempts");
    ++retries_;
    backoff(attempt);
  }
}

// One conditional UPDATE decides; `constraint` lets the schema's CHECK decide instead.
TransferResult SqlBank::atomic(const std::string& from, const std::string& to, std::int64_t amount,
                               bool constraint) {
  // Both writes in account order (see in_transaction): when the credit goes first and the debit is
  // then refused, the rollback undoes the credit.
  const bool from_first = from < to;
  std::optional<Tx> tx(std::in_place, db_, TxMode::read);
  auto debit = [&]() -> bool {
    try {
      return (constraint ? db_.run("UPDATE accounts SET balance = balance - ? WHERE id = ?", {amount, from})
                         : db_.run("UPDATE accounts SET balance = balance - ? WHERE id = ? AND balance >= ?",
                                   {amount, from, amount})) == 1;
    } catch (const DbConstraint&) {
      return false;  // CHECK (balance >= 0) refused it: insufficient funds, nothing written
    }
  };
  auto credit = [&] {
    db_.run("UPDATE accounts SET balance = balance + ? WHERE id = ?", {amount, to});
    return true;
  };
  bool debited = from_first ? debit() : credit();
  if (debited) {
    RACELAB_POINT("transfer.between_debit_and_credit");
    debited = from_first ? credit() : debit();
  }
  if (!debited) {
    tx.reset();  // rolls back a credit made first
    return record(from, to, amount, refused(read_balance(from), read_balance(to)));
  }
  const std::int64_t after = read_balance(from), to_after = read_balance(to);
  auto r =
      record(from, to, amount, {TransferStatus::success, after + amount, after, to_after - amount, to_after});
  tx->commit();
  return r;
}

// The ledger row, on the caller's transaction when it has one.
TransferResult SqlBank::record(const std::string& from, const std::string& to, std::int64_t amount,
                               const TransferResult& result) {
  recorded_ = ledger::record(db_, from, to, amount, strategy_, result, key_);
  return result;
}

void simulate_sql_double_spend(racelab::Simulation& sim, Strategy strategy) {
  static std::atomic<int> n{0};
  auto url = "sqlite:memdb:racelab_explore_" + std::to_string(++n);
  auto setup = open_db(url);
  SqlBank::reset(*setup, strategy);
  auto a = open_db(url), b = open_db(url);
  sim.spawn("A", [&] {
    try {
      SqlBank(*a).transfer("alice", "bob", 800, strategy);
    } catch (const DbBusy&) {
    }
  });
  sim.spawn("B", [&] {
    try {
      SqlBank(*b).transfer("alice", "charlie", 800, strategy);
    } catch (const DbBusy&) {
    }
  });
  auto out = sim.run();
  if (!out.ok()) return;
  SqlBank bank(*setup);
  RACELAB_ASSERT(bank.balance("alice") >= 0);
  RACELAB_ASSERT(bank.total() == 1700);
}

}  // namespace lab::bank
