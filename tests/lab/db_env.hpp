// Where the lab's database tests find their databases: a fresh SQLite file per name, the
// PostgreSQL cluster that ctest's `pg` fixture started (scripts/pg; RACELAB_PG_DIR points at it),
// and the MariaDB server of the `mariadb` fixture (scripts/mariadb; RACELAB_MARIADB_DIR). A test
// that needs PostgreSQL or MariaDB fails, never skips, when its server is missing; the MariaDB
// parameters exist only in a racelab built with MariaDB (lab::has_mariadb()).
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <ostream>
#include <string>
#include <vector>

#include "common/db.hpp"
#include "common/strategy.hpp"

namespace lab {
// GoogleTest prints a Strategy parameter with this (found by ADL): "atomic", not its bytes.
inline void PrintTo(Strategy s, std::ostream* out) { *out << to_string(s); }
inline void PrintTo(Backend b, std::ostream* out) { *out << to_string(b); }
}  // namespace lab

namespace db_env {

inline std::string postgres_base() {
  const char* dir = std::getenv("RACELAB_PG_DIR");
  if (dir == nullptr)
    throw std::runtime_error("RACELAB_PG_DIR is not set: run the tests with ctest (it starts PostgreSQL)");
  std::ifstream in(std::filesystem::path(dir) / "conninfo");
  std::string conninfo;
  if (!std::getline(in, conninfo))
    throw std::runtime_error(std::string("no PostgreSQL cluster in ") + dir + ": scripts/pg start " + dir);
  return conninfo;
}

// A PostgreSQL conninfo whose tables live in their own schema, so tests that ctest runs in
// parallel never share a table.
inline std::string postgres(const std::string& schema) {
  std::string clean;
  for (char c : schema)
    clean += std::isalnum(static_cast<unsigned char>(c)) ? static_cast<char>(std::tolower(c)) : '_';
  auto base = postgres_base();
  auto db = lab::open_db(base);
  db->script("CREATE SCHEMA IF NOT EXISTS " + clean);
  return base + " options='-csearch_path=" + clean + "'";
}

// A MariaDB URL whose tables live in their own database `racelab_<name>`, created if missing.
inline std::string mariadb(const std::string& name) {
  const char* dir = std::getenv("RACELAB_MARIADB_DIR");
#ifdef RACELAB_MARIADB_DIR_DEFAULT
  if (dir == nullptr) dir = RACELAB_MARIADB_DIR_DEFAULT;  // the ctest fixture's server
#endif
  if (dir == nullptr)
    throw std::runtime_error("RACELAB_MARIADB_DIR is not set: run the tests with ctest (it starts MariaDB)");
  std::ifstream in(std::filesystem::path(dir) / "url");
  std::string base;
  if (!std::getline(in, base))
    throw std::runtime_error(std::string("no MariaDB server for ") + dir + ": scripts/mariadb start " + dir);
  std::string db = "racelab_";
  for (char c : name)
    db += std::isalnum(static_cast<unsigned char>(c)) ? static_cast<char>(std::tolower(c)) : '_';
  lab::open_db(base)->script("CREATE DATABASE IF NOT EXISTS `" + db + "`");
  return base.substr(0, base.rfind('/') + 1) + db;
}

// The backends this racelab's lab runs on: SQLite, PostgreSQL, and MariaDB when built with it.
inline std::vector<lab::Backend> backends() {
  std::vector<lab::Backend> out{lab::Backend::sqlite, lab::Backend::postgres};
  if (lab::has_mariadb()) out.push_back(lab::Backend::mariadb);
  return out;
}

inline std::string sqlite_file(const std::string& name) {
  auto path =
      std::filesystem::temp_directory_path() / ("racelab_" + name + "_" + std::to_string(::getpid()) + ".db");
  for (auto suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path.string() + suffix);
  return "sqlite:" + path.string();
}

// A fresh shared in-memory SQLite database (memdb VFS), for simulations.
inline std::string sqlite_memdb(const std::string& name) {
  static std::atomic<int> n{0};
  return "sqlite:memdb:" + name + "_" + std::to_string(++n);
}

inline std::string url(lab::Backend backend, const std::string& name) {
  switch (backend) {
    case lab::Backend::sqlite: return sqlite_file(name);
    case lab::Backend::postgres: return postgres(name);
    case lab::Backend::mariadb: return mariadb(name);
  }
  return "";
}

}  // namespace db_env
