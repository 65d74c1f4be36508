// racelab-run: --strategy dfs:2 --runs 5000
// racelab-link: -lsqlite3
// expect-exit: 1
// expect-output: double spend: alice is negative
// expect-output: sql.select.accounts@bank_sqlite.cpp
// The seeds' bank through the plain sqlite3 C API: each thread opens its own connection, reads
// alice's balance, checks it, then debits and credits in a transaction of its own. Both threads
// can read 1000 before either debits, and alice ends at -600.
#include <sqlite3.h>
#include <unistd.h>

#include <cassert>
#include <cstdio>
#include <string>
#include <thread>

namespace {

std::string g_path;

void exec(sqlite3* db, const char* sql) {
  char* error = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &error) != SQLITE_OK) {
    std::fprintf(stderr, "%s: %s\n", sql, error);
    sqlite3_free(error);
  }
}

long balance(sqlite3* db, const char* who) {
  sqlite3_stmt* stmt = nullptr;
  sqlite3_prepare_v2(db, "SELECT balance FROM accounts WHERE name = ?", -1, &stmt, nullptr);
  sqlite3_bind_text(stmt, 1, who, -1, SQLITE_STATIC);
  long value = sqlite3_step(stmt) == SQLITE_ROW ? sqlite3_column_int64(stmt, 0) : 0;
  sqlite3_finalize(stmt);
  return value;
}

void move(sqlite3* db, const char* from, const char* to, long amount) {
  sqlite3_stmt* stmt = nullptr;
  sqlite3_prepare_v2(db, "UPDATE accounts SET balance = balance + ? WHERE name = ?", -1, &stmt, nullptr);
  for (auto [who, delta] : {std::pair{from, -amount}, std::pair{to, amount}}) {
    sqlite3_bind_int64(stmt, 1, delta);
    sqlite3_bind_text(stmt, 2, who, -1, SQLITE_STATIC);
    sqlite3_step(stmt);
    sqlite3_reset(stmt);
  }
  sqlite3_finalize(stmt);
}

void transfer(const char* from, const char* to, long amount) {
  sqlite3* db = nullptr;
  sqlite3_open(g_path.c_str(), &db);
  sqlite3_busy_timeout(db, 5000);
  // BUG: the check reads outside the transaction that acts on it.
  if (balance(db, from) >= amount) {
    exec(db, "BEGIN");
    move(db, from, to, amount);
    exec(db, "COMMIT");
  }
  sqlite3_close(db);
}

}  // namespace

int main() {
  char dir[] = "/tmp/racelab-bank-sqlite-XXXXXX";
  g_path = std::string(mkdtemp(dir)) + "/bank.db";
  sqlite3* db = nullptr;
  sqlite3_open(g_path.c_str(), &db);
  exec(db, "PRAGMA journal_mode = WAL");
  exec(db, "CREATE TABLE accounts (name TEXT PRIMARY KEY, balance INTEGER NOT NULL)");
  exec(db, "INSERT INTO accounts VALUES ('alice', 1000), ('bob', 500), ('charlie', 200)");

  std::thread t1([] { transfer("alice", "bob", 800); });
  std::thread t2([] { transfer("alice", "charlie", 800); });
  t1.join();
  t2.join();

  long alice = balance(db, "alice");
  long total = alice + balance(db, "bob") + balance(db, "charlie");
  std::printf("alice: %ld, total: %ld\n", alice, total);
  sqlite3_close(db);
  unlink(g_path.c_str());
  unlink((g_path + "-wal").c_str());
  unlink((g_path + "-shm").c_str());
  rmdir(dir);
  assert(alice >= 0 && "double spend: alice is negative");
  assert(total == 1700 && "money created or destroyed");
  return 0;
}
