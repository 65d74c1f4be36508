#include "bank/ledger.hpp"

#include <racelab/point.hpp>

#include <chrono>
#include <cstdio>
#include <ctime>

namespace lab::bank {
namespace {

std::string now_iso8601() {
  auto now = std::chrono::system_clock::now();
  auto secs = std::chrono::system_clock::to_time_t(now);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[40];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  char out[48];
  std::snprintf(out, sizeof out, "%s.%03lldZ", buf, static_cast<long long>(ms));
  return out;
}

constexpr const char* kColumns =
    "id, created_at, from_account, to_account, amount, status, strategy, from_balance_before, "
    "from_balance_after, to_balance_before, to_balance_after, COALESCE(idempotency_key, '')";

// NULL for "no key": a unique index lets any number of rows have none, on both backends.
constexpr const char* kKeyIndex =
    "CREATE UNIQUE INDEX transfers_idempotency_key ON transfers(idempotency_key);";

// The key's column: at most 255 visible ASCII characters (check_idempotency_key). MariaDB gets a
// VARCHAR, so its UNIQUE index is an ordinary B-tree one rather than the hash it builds for TEXT.
std::string key_column(const Db& db) {
  return db.backend() == Backend::mariadb ? "idempotency_key VARCHAR(255)" : "idempotency_key TEXT";
}

LedgerRow parse(const std::vector<std::string>& r) {
  return {.id = ledger::format_id(std::stoll(r[0])),
          .timestamp = r[1],
          .from = r[2],
          .to = r[3],
          .amount = std::stoll(r[4]),
          .status = r[5],
          .strategy = r[6],
          .from_balance_before = std::stoll(r[7]),
          .from_balance_after = std::stoll(r[8]),
          .to_balance_before = std::stoll(r[9]),
          .to_balance_after = std::stoll(r[10]),
          .idempotency_key = r[11]};
}

}  // namespace

namespace ledger {

std::string format_id(std::int64_t n) {
  char id[32];
  std::snprintf(id, sizeof id, "tx-%06lld", static_cast<long long>(n));
  return id;
}

void create(Db& db) {
  // The id is the database's own sequence, so two processes sharing the bank never reuse one.
  const char* id = db.backend() == Backend::postgres  ? "id BIGSERIAL PRIMARY KEY"
                   : db.backend() == Backend::mariadb ? "id BIGINT AUTO_INCREMENT PRIMARY KEY"
                                                      : "id INTEGER PRIMARY KEY AUTOINCREMENT";
  db.script(std::string("DROP TABLE IF EXISTS transfers; CREATE TABLE transfers(") + id +
            ", created_at TEXT NOT NULL, from_account TEXT NOT NULL, to_account TEXT NOT NULL,"
            " amount BIGINT NOT NULL, status TEXT NOT NULL, strategy TEXT NOT NULL,"
            " from_balance_before BIGINT NOT NULL, from_balance_after BIGINT NOT NULL,"
            " to_balance_before BIGINT NOT NULL, to_balance_after BIGINT NOT NULL, " +
            key_column(db) + ");" + kKeyIndex);
}

bool upgrade(Db& db) {
  try {
    db.query_int64("SELECT count(idempotency_key) FROM transfers", {});
    return false;
  } catch (const std::exception&) {
    db.script("ALTER TABLE transfers ADD COLUMN " + key_column(db) + ";" + kKeyIndex);
    return true;
  }
}

LedgerRow record(Db& db, const std::string& from, const std::string& to, std::int64_t amount,
                 Strategy strategy, const TransferResult& result, std::string_view idempotency_key) {
  RACELAB_POINT("transfer.before_ledger");
  LedgerRow row{.id = {},
                .timestamp = now_iso8601(),
                .from = from,
                .to = to,
                .amount = amount,
                .status = std::string(to_string(result.status)),
                .strategy = std::string(to_string(strategy)),
                .from_balance_before = result.from_balance_before,
                .from_balance_after = result.from_balance_after,
                .to_balance_before = result.to_balance_before,
                .to_balance_after = result.to_balance_after,
                .idempotency_key = std::string(idempotency_key)};
  constexpr const char* kInsert =
      "INSERT INTO transfers(created_at, from_account, to_account, amount, status, strategy,"
      " from_balance_before, from_balance_after, to_balance_before, to_balance_after";
  auto id =
      idempotency_key.empty()
          ? db.query_int64(
                std::string(kInsert) + ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                {row.timestamp, from, to, amount, row.status, row.strategy, row.from_balance_before,
                 row.from_balance_after, row.to_balance_before, row.to_balance_after})
          : db.query_int64(
                std::string(kInsert) +
                    ", idempotency_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                {row.timestamp, from, to, amount, row.status, row.strategy, row.from_balance_before,
                 row.from_balance_after, row.to_balance_before, row.to_balance_after, row.idempotency_key});
  row.id = format_id(id.value());
  return row;
}

std::vector<LedgerRow> recent(Db& db, int limit) {
  std::vector<LedgerRow> out;
  std::vector<std::vector<std::string>> rows;
  try {
    rows = db.query_text(std::string("SELECT ") + kColumns + " FROM transfers ORDER BY id DESC LIMIT ?",
                         {std::int64_t{limit}});
  } catch (const std::exception& e) {
    throw NoLedger(std::string("no ledger in this database (table 'transfers'): ") + e.what());
  }
  for (const auto& r : rows) out.push_back(parse(r));
  return out;
}

std::optional<LedgerRow> find(Db& db, std::string_view idempotency_key) {
  auto rows = db.query_text(std::string("SELECT ") + kColumns + " FROM transfers WHERE idempotency_key = ?",
                            {std::string(idempotency_key)});
  if (rows.empty()) return std::nullopt;
  return parse(rows.front());
}

}  // namespace ledger

AuditReport audit(Db& db) {
  // One statement: on PostgreSQL (READ COMMITTED) and SQLite alike it reads one snapshot, so a
  // transfer committing meanwhile is either wholly in it or wholly out.
  static constexpr const char* kSql =
      "SELECT a.id, a.balance, a.opening_balance,"
      " COALESCE((SELECT SUM(t.amount) FROM transfers t WHERE t.to_account = a.id AND t.status = 'success'), "
      "0)"
      " - COALESCE((SELECT SUM(t.amount) FROM transfers t WHERE t.from_account = a.id"
      " AND t.status = 'success'), 0),"
      " (SELECT COUNT(*) FROM transfers),"
      " (SELECT COUNT(*) FROM transfers t WHERE t.status = 'success')"
      " FROM accounts a ORDER BY a.id";
  std::vector<std::vector<std::string>> rows;
  try {
    rows = db.query_text(kSql, {});
  } catch (const std::exception& e) {
    throw NoLedger(std::string("this database holds no racelab bank with a ledger (tables 'accounts' with "
                               "opening_balance, and 'transfers'; `racelab serve --db …` creates them): ") +
                   e.what());
  }
  AuditReport report;
  for (const auto& r : rows) {
    AccountAudit a{.id = r[0],
                   .balance = std::stoll(r[1]),
                   .opening_balance = std::stoll(r[2]),
                   .movements = std::stoll(r[3])};
    report.money_total += a.balance;
    report.money_expected += a.opening_balance;
    report.ledger_rows = std::stoll(r[4]);
    report.ledger_successes = std::stoll(r[5]);
    report.accounts.push_back(std::move(a));
  }
  return report;
}

std::vector<std::string> AuditReport::problems() const {
  std::vector<std::string> out;
  if (money_total != money_expected)
    out.push_back("money not conserved: " + std::to_string(money_total) + " in the accounts, " +
                  std::to_string(money_expected) + " expected");
  for (const auto& a : accounts) {
    if (a.balance < 0) out.push_back("account '" + a.id + "' is negative: " + std::to_string(a.balance));
    if (!a.matches())
      out.push_back("account '" + a.id + "' holds " + std::to_string(a.balance) + " but opened with " +
                    std::to_string(a.opening_balance) + " and the ledger moved " +
                    std::to_string(a.movements) + " (expected " +
                    std::to_string(a.opening_balance + a.movements) + ")");
  }
  return out;
}

}  // namespace lab::bank
