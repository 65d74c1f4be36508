// Where the MariaDB adapter's tests find their server: the one ctest's `mariadb` fixture started
// (scripts/mariadb; RACELAB_MARIADB_DIR points at its directory, whose `url` file names it). Each
// test gets a database of its own, so tests that ctest runs in parallel never share a table. A
// test fails, never skips, when the server is missing.
#pragma once

#include <racelab/db/mariadb.hpp>

#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>

namespace mariadb_env {

inline std::string base_url() {
  const char* dir = std::getenv("RACELAB_MARIADB_DIR");
  if (dir == nullptr)
    throw std::runtime_error("RACELAB_MARIADB_DIR is not set: run the tests with ctest (it starts MariaDB)");
  std::ifstream in(std::filesystem::path(dir) / "url");
  std::string url;
  if (!std::getline(in, url))
    throw std::runtime_error(std::string("no MariaDB server for ") + dir + ": scripts/mariadb start " + dir);
  return url;
}

// The URL of database `racelab_<name>`, created if missing.
inline std::string url(const std::string& name) {
  std::string db = "racelab_";
  for (char c : name)
    db += std::isalnum(static_cast<unsigned char>(c)) ? static_cast<char>(std::tolower(c)) : '_';
  const std::string base = base_url();
  auto admin = racelab::mariadb::Connection::open(base);
  admin.exec("CREATE DATABASE IF NOT EXISTS `" + db + "`");
  return base.substr(0, base.rfind('/') + 1) + db;
}

}  // namespace mariadb_env
