// racelab-run: --strategy dfs:2 --runs 2000
// racelab-link: -I/usr/include/postgresql -lpq
// needs: pg
// expect-exit: 1
// expect-output: deadlock
// expect-output: sql.update.accounts_pq_deadlock@bank_pq_deadlock.cpp
// expect-output: a database lock held by another connection
// Two transfers in opposite directions, each in one transaction that updates its source row, then
// its destination row: T1 locks alice and waits for bob, T2 locks bob and waits for alice. Both
// wait in the server; racelab sees each statement wait for a lock (pg_stat_activity) and reports the
// deadlock the server would break by aborting one of them.
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

long balance(PGconn* conn, const char* who) {
  const std::string sql = "SELECT balance FROM accounts_pq_deadlock WHERE name = $1";
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
    PQclear(PQexecParams(conn,
                         "UPDATE accounts_pq_deadlock SET balance = balance + $1::bigint WHERE name = $2", 2,
                         nullptr, params, nullptr, nullptr, 0));
  }
}

void transfer(const char* from, const char* to, long amount) {
  PGconn* conn = connect();
  exec(conn, "BEGIN");
  move(conn, from, to, amount);  // BUG: rows locked in the order of the transfer, not one global order
  exec(conn, "COMMIT");
  PQfinish(conn);
}

}  // namespace

int main() {
  PGconn* conn = connect();
  exec(conn, "SET client_min_messages = warning");
  exec(conn,
       "CREATE TABLE IF NOT EXISTS accounts_pq_deadlock (name text PRIMARY KEY, balance bigint NOT NULL)");
  exec(conn, "TRUNCATE accounts_pq_deadlock");
  exec(conn, "INSERT INTO accounts_pq_deadlock VALUES ('alice', 1000), ('bob', 500), ('charlie', 200)");

  std::thread t1([] { transfer("alice", "bob", 100); });
  std::thread t2([] { transfer("bob", "alice", 100); });
  t1.join();
  t2.join();

  long alice = balance(conn, "alice");
  long total = alice + balance(conn, "bob") + balance(conn, "charlie");
  std::printf("alice: %ld, total: %ld\n", alice, total);
  PQfinish(conn);
  assert(total == 1700 && "money created or destroyed");
  return 0;
}
