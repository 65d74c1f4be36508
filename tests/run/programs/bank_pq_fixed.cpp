// racelab-run: --strategy dfs:2 --runs 2000
// racelab-link: -I/usr/include/postgresql -lpq
// needs: pg
// expect-exit: 0
// expect-output: every schedule within the bound explored
// bank_pq.cpp fixed: the check reads with SELECT ... FOR UPDATE inside the transaction, so the second
// transfer's read waits in the server for the first one's row lock, and then sees what it left.
#include <libpq-fe.h>

#include <cassert>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

namespace {

PGconn* connect() {
  const char* conninfo = std::getenv("RACELAB_PG");
  PGconn* conn = PQconnectdb(conninfo == nullptr ? "" : conninfo);
  if (PQstatus(conn) != CONNECTION_OK) {
    std::fprintf(stderr, "cannot connect: %s", PQerrorMessage(conn));
    std::exit(3);
  }
  return conn;
}

void exec(PGconn* conn, const char* sql) {
  PGresult* r = PQexec(conn, sql);
  if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
    std::fprintf(stderr, "%s: %s", sql, PQerrorMessage(conn));
  PQclear(r);
}

long balance(PGconn* conn, const char* who, const char* lock = "") {
  const std::string sql = std::string("SELECT balance FROM accounts_pq_fixed WHERE name = $1") + lock;
  const char* params[] = {who};
  PGresult* r = PQexecParams(conn, sql.c_str(), 1, nullptr, params, nullptr, nullptr, 0);
  long value = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 ? std::atol(PQgetvalue(r, 0, 0)) : 0;
  PQclear(r);
  return value;
}

void move(PGconn* conn, const char* from, const char* to, long amount) {
  for (auto [who, delta] : {std::pair{from, -amount}, std::pair{to, amount}}) {
    const std::string value = std::to_string(delta);
    const char* params[] = {value.c_str(), who};
    PQclear(PQexecParams(conn, "UPDATE accounts_pq_fixed SET balance = balance + $1::bigint WHERE name = $2",
                         2, nullptr, params, nullptr, nullptr, 0));
  }
}

void transfer(const char* from, const char* to, long amount) {
  PGconn* conn = connect();
  exec(conn, "BEGIN");
  if (balance(conn, from, " FOR UPDATE") >= amount) move(conn, from, to, amount);
  exec(conn, "COMMIT");
  PQfinish(conn);
}

}  // namespace

int main() {
  PGconn* conn = connect();
  exec(conn, "SET client_min_messages = warning");
  exec(conn, "CREATE TABLE IF NOT EXISTS accounts_pq_fixed (name text PRIMARY KEY, balance bigint NOT NULL)");
  exec(conn, "TRUNCATE accounts_pq_fixed");
  exec(conn, "INSERT INTO accounts_pq_fixed VALUES ('alice', 1000), ('bob', 500), ('charlie', 200)");

  std::thread t1([] { transfer("alice", "bob", 800); });
  std::thread t2([] { transfer("alice", "charlie", 800); });
  t1.join();
  t2.join();

  long alice = balance(conn, "alice");
  long total = alice + balance(conn, "bob") + balance(conn, "charlie");
  std::printf("alice: %ld, total: %ld\n", alice, total);
  PQfinish(conn);
  assert(alice >= 0 && "double spend: alice is negative");
  assert(total == 1700 && "money created or destroyed");
  return 0;
}
