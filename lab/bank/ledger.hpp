// lab/bank/ledger.hpp — the bank's durable ledger: one row per transfer in the `transfers` table,
// written by SqlBank in the same database transaction as the transfer's balance changes, and the
// audit that checks the books against it.
//
//   auto db = lab::open_db("sqlite:/tmp/bank.db");
//   lab::bank::SqlBank::reset(*db, lab::Strategy::atomic);   // accounts, opening balances, empty ledger
//   lab::bank::SqlBank(*db).transfer("alice", "bob", 800, lab::Strategy::atomic);
//   for (const auto& row : lab::bank::ledger::recent(*db, 20)) std::cout << row.id << '\n';
//   assert(lab::bank::audit(*db).clean());
//
// Why the same transaction: a transfer acknowledged to a client must be in the ledger exactly when
// its money moved. A row written after COMMIT is lost by a crash between the two (money moved, no
// record); a row written before BEGIN survives a transfer that rolled back. Inside the transaction
// both commit or neither does, whatever the strategy's check got wrong. The point
// `transfer.before_ledger` sits between the last balance write and the row's INSERT, so a test can
// crash a transfer exactly there (tests/lab/ledger_test.cpp).
//
// A refused transfer (insufficient funds) is a row too, with its status; it moves no money.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "bank/bank.hpp"
#include "common/db.hpp"
#include "common/strategy.hpp"

namespace lab::bank {

// The database holds no bank (no `accounts` / `transfers` table, or an older schema without
// opening balances): the message says which and how to create one.
class NoLedger : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct LedgerRow {
  std::string id;         // "tx-000001": the ledger's own sequence, unique across processes
  std::string timestamp;  // UTC, ISO 8601 with milliseconds, taken when the row was written
  std::string from, to;
  std::int64_t amount = 0;
  std::string status;    // to_string(TransferStatus)
  std::string strategy;  // to_string(Strategy)
  std::int64_t from_balance_before = 0, from_balance_after = 0;
  std::int64_t to_balance_before = 0, to_balance_after = 0;
  std::string idempotency_key;  // empty: none (bank/idempotency.hpp)
};

namespace ledger {

// Drops and creates `transfers` (SqlBank::reset calls it; the ids start again at 1).
void create(Db& db);
// Adds the idempotency key column and its unique index to a ledger made before they existed;
// true when it did. Rows are kept.
bool upgrade(Db& db);
// Writes the row for a decided transfer on `db`'s current transaction (or autocommit when there is
// none) and returns it. Passes `transfer.before_ledger` first. A non-empty `idempotency_key` already
// in the ledger makes the INSERT fail with DbConstraint (its unique index).
LedgerRow record(Db& db, const std::string& from, const std::string& to, std::int64_t amount,
                 Strategy strategy, const TransferResult& result, std::string_view idempotency_key = {});
// The row recorded with `idempotency_key`, if any.
std::optional<LedgerRow> find(Db& db, std::string_view idempotency_key);
// The newest `limit` rows, newest first.
std::vector<LedgerRow> recent(Db& db, int limit);
std::string format_id(std::int64_t n);  // 7 -> "tx-000007"

}  // namespace ledger

// The books against the ledger, read in one statement (one snapshot on both backends).
struct AccountAudit {
  std::string id;
  std::int64_t balance = 0;
  std::int64_t opening_balance = 0;
  std::int64_t movements = 0;  // credits minus debits of the ledger's successful transfers
  bool matches() const { return balance == opening_balance + movements; }
};

struct AuditReport {
  std::int64_t money_total = 0;     // sum of balances now
  std::int64_t money_expected = 0;  // sum of opening balances
  std::int64_t ledger_rows = 0;
  std::int64_t ledger_successes = 0;
  std::vector<AccountAudit> accounts;
  std::vector<std::string> problems() const;  // one sentence each; empty when clean
  bool clean() const { return problems().empty(); }
};

// Throws NoLedger when the database holds no bank of this schema.
AuditReport audit(Db& db);

}  // namespace lab::bank
