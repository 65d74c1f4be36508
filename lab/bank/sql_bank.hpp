// lab/bank/sql_bank.hpp — the Lab 21 bank on a real database, with every strategy.
//
//   auto db = lab::open_db("sqlite:/tmp/bank.db");
//   lab::bank::SqlBank::reset(*db, lab::Strategy::pessimistic);   // alice 1000, bob 500, charlie 200
//   lab::bank::SqlBank bank(*db);
//   auto r = bank.transfer("alice", "bob", 800, lab::Strategy::pessimistic);
//
// Each strategy, in terms of SQL (the window point `transfer.after_read` always follows a first
// read made outside any transaction or lock, see docs/hooks.md):
//   unsafe        read; check; BEGIN; UPDATE balance = balance - ?; UPDATE … + ?; ledger row; COMMIT
//   mutex         re-read and check under an in-process racelab::mutex, then write in a transaction:
//                 it holds in one process and double-spends across two (tests/cli/cross_process.sh)
//   pessimistic   PostgreSQL, MariaDB: BEGIN; SELECT … FOR UPDATE; SQLite: BEGIN IMMEDIATE; re-read,
//                 check, write
//   nowait        PostgreSQL, MariaDB: FOR UPDATE NOWAIT; SQLite: BEGIN IMMEDIATE without waiting → DbBusy
//   optimistic    read balance and version; UPDATE … WHERE version = ?; retry (bounded) on 0 rows
//   atomic        UPDATE accounts SET balance = balance - ? WHERE id = ? AND balance >= ?
//   constraint    CHECK (balance >= 0) in the schema; the violation becomes "insufficient funds"
//   serializable  PostgreSQL: SERIALIZABLE (SSI); MariaDB: SERIALIZABLE (every read a shared lock, so
//                 the two transfers deadlock and one retries); SQLite: a deferred transaction; retry
//                 on conflict
// Every strategy writes the transfer's ledger row (bank/ledger.hpp) in the transaction that moves its
// money: `unsafe` and `mutex` check outside any transaction (their bug) but still write in one. A
// refusal that moved nothing is recorded in the transaction it decided in, or on its own.
// One connection per thread (or simulated task): a SqlBank is as single-threaded as its Db.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "bank/bank.hpp"
#include "bank/ledger.hpp"
#include "common/db.hpp"

namespace lab::bank {

class SqlBank {
 public:
  explicit SqlBank(Db& db) : db_(db) {}
  // Recreates the schema (accounts with their opening balances, an empty ledger) and the three
  // accounts. `constraint` needs the CHECK in the schema; the
  // other strategies run without it, so the unsafe one can show a negative balance.
  static void reset(Db& db, Strategy strategy);
  // Benchmarks: `accounts` accounts a0 … a<n-1>, each holding `balance`.
  static void reset_many(Db& db, Strategy strategy, int accounts, std::int64_t balance);
  // Throws InvalidTransfer, UnknownAccount, DbBusy (nowait: retry later), DbConflict (retries spent).
  // With an idempotency key (bank/idempotency.hpp) a transfer already in the ledger under that key
  // is not run again: its recorded result comes back and replayed() is true; the key recorded with
  // another transfer throws IdempotencyMismatch.
  TransferResult transfer(const std::string& from, const std::string& to, std::int64_t amount,
                          Strategy strategy, std::string_view idempotency_key = {});
  std::int64_t balance(const std::string& id);
  std::int64_t total();
  int retries() const { return retries_; }  // optimistic / serializable re-tries so far
  // The ledger row of the last transfer that returned (not one that threw).
  const LedgerRow& recorded() const { return recorded_; }
  // The last transfer that returned was answered from the ledger (its idempotency key was there).
  bool replayed() const { return replayed_; }
  // Creates the schema when `db` holds no bank of this version (no ledger, no opening balances);
  // true when it did. An existing bank and its ledger are kept.
  static bool ensure_schema(Db& db, Strategy strategy);
  // Whether `accounts` has the CHECK (balance >= 0) that reset() gives `constraint`: a service
  // restarted on a bank made for `constraint` keeps its books when switched back to it.
  static bool has_balance_check(Db& db);

 private:
  std::int64_t read_balance(const std::string& id, const char* lock_clause = "");
  std::int64_t add(const std::string& id, std::int64_t delta);
  TransferResult in_transaction(const std::string& from, const std::string& to, std::int64_t amount,
                                std::optional<TxMode> mode, const char* lock_clause);
  TransferResult optimistic(const std::string& from, const std::string& to, std::int64_t amount);
  TransferResult atomic(const std::string& from, const std::string& to, std::int64_t amount, bool constraint);
  TransferResult run(const std::string& from, const std::string& to, std::int64_t amount, Strategy strategy);
  TransferResult record(const std::string& from, const std::string& to, std::int64_t amount,
                        const TransferResult& result);
  TransferResult replay(const LedgerRow& row, const std::string& from, const std::string& to,
                        std::int64_t amount);
  Db& db_;
  int retries_ = 0;
  Strategy strategy_ = Strategy::unsafe;  // the running transfer's, for its ledger row
  std::string key_;                       // the running transfer's idempotency key, for its row
  LedgerRow recorded_;
  bool replayed_ = false;
};

// The double spend on an in-memory SQLite database, for explore(): a fresh database per run (so
// runs may go on several threads at once), alice -> bob 800 and alice -> charlie 800 as tasks "A"
// and "B" on their own connections, the run, then the invariants as RACELAB_ASSERTs.
void simulate_sql_double_spend(racelab::Simulation& sim, Strategy strategy);

}  // namespace lab::bank
