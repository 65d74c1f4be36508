// Links racelab::sqlite and racelab::postgres from the installed package: a SQLite in-memory
// database answers a query, and the PostgreSQL adapter's code is linked (no server is needed:
// opening a connection that fails must throw racelab's error, not crash). Exits 0 when both hold.
#include <racelab/db/postgres.hpp>
#include <racelab/db/sqlite.hpp>

#include <iostream>

int main() {
  auto db = racelab::sqlite::Connection::open(":memory:");
  if (db.query_int64("SELECT 40 + 2") != 42) return 1;
  try {
    auto pg = racelab::postgres::Connection::open("host=/nonexistent connect_timeout=1");
    return 1;
  } catch (const std::exception& e) {
    std::cout << "sqlite answered 42; postgres refused as expected: " << e.what() << '\n';
  }
  return 0;
}
