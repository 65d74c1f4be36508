// lab/service/connections.hpp — one database connection per server thread, per service: a Db is
// single-threaded, and opening one per request would cost more than the transfer.
//
//   Connections connections("sqlite:/tmp/bank.db");
//   Db& db = connections.get();   // this thread's, opened on first use
#pragma once

#include <memory>
#include <string>
#include <unordered_map>

#include "common/db.hpp"

namespace lab::service {

class Connections {
 public:
  explicit Connections(std::string url) : url_(std::move(url)) {}
  const std::string& url() const { return url_; }
  // The calling thread's connection to url(). A thread keeps it until it exits, keyed by this
  // object, so two services in one process (tests) never share one.
  Db& get() {
    thread_local std::unordered_map<const Connections*, std::unique_ptr<Db>> connections;
    auto& conn = connections[this];
    if (!conn) conn = open_db(url_);
    return *conn;
  }

 private:
  std::string url_;
};

}  // namespace lab::service
