// lab/service/state.hpp — what a BankService holds, shared by its route files (detail of
// bank_service.cpp; nothing outside lab/service includes it).
//
//   transfer_routes.cpp   POST /transfer, POST /admin/fire, GET /transactions, GET /audit
//   admin_routes.cpp      /admin/delay, /admin/barrier, /admin/transactions, /admin/strategy, /admin/settings
//   bank_service.cpp      construction, the read-only routes, /reset, error handling, /metrics
//
// The ledger and the audit are the domain's (bank/ledger.hpp): the service maps them to HTTP.
#pragma once

#include <httplib.h>

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <utility>
#include <vector>

#include "bank/idempotency.hpp"
#include "bank/sql_bank.hpp"
#include "service/bank_service.hpp"
#include "service/connections.hpp"
#include "service/http.hpp"
#include "service/metrics.hpp"
#include "service/request.hpp"
#include "service/settings.hpp"
#include "service/tracing.hpp"

namespace lab::service {

inline constexpr int kListMax = 1000;  // GET /transactions?limit= at most

struct BankService::State {
  explicit State(Config c) : config(std::move(c)), connections(config.db) {}
  Config config;
  Connections connections;
  std::mutex settings_mu;
  Settings settings;  // guarded by settings_mu
  Window window;      // armed under settings_mu
  // Faults armed from POST /admin/fault (racelab::Hooks::fault at the database adapters' points), and
  // what was armed, for GET /admin/faults; both under settings_mu.
  std::unique_ptr<racelab::Hooks> fault_hooks;
  struct ArmedFault {
    std::string point;
    racelab::Fault kind;
    std::int64_t times;  // -1: always
    racelab::ActionRef action;
  };
  std::vector<ArmedFault> armed_faults;
  json faults_json();          // holds settings_mu
  std::shared_mutex reset_mu;  // transfers share it; /reset takes it alone
  Metrics metrics;
  bank::KeysInFlight keys_in_flight;  // POST /transfer's Idempotency-Keys being executed
  std::unique_ptr<Tracer> tracer;
  // POST routes by path, so a POST without a body (curl -X POST "…?enabled=true", as the lab's
  // walk-through sends) can be served: cpp-httplib refuses those before routing.
  std::map<std::string, httplib::Server::Handler> posts;
  void post(httplib::Server& server, const std::string& path, httplib::Server::Handler handler) {
    posts[path] = handler;
    server.Post(path, std::move(handler));
  }

  Db& db() { return connections.get(); }
  Strategy strategy() {
    std::lock_guard lk(settings_mu);
    return settings.strategy;
  }
  void rearm() {
    window.arm(settings, std::chrono::milliseconds(config.barrier_timeout_ms));
  }  // holds settings_mu
  bool authorized(const httplib::Request& req, httplib::Response& res);
  json accounts_json();
  void reset_bank(Strategy strategy);  // the accounts, their opening balances and an empty ledger
  json state_json();                   // GET /api/state: what the page shows

  // transfer_routes.cpp
  void transfer_routes(httplib::Server& server);
  void transfer(const httplib::Request& req, httplib::Response& res);
  struct Answer {
    int status = 200;
    json body;
    bool replayed = false;  // an idempotent retry answered from the ledger
  };
  Answer execute(const std::string& from, const std::string& to, std::int64_t amount,
                 const std::string& traceparent, const std::string& idempotency_key = {});
  void fire(const httplib::Request& req, httplib::Response& res);
  // admin_routes.cpp
  void settings_routes(httplib::Server& server);
};

}  // namespace lab::service
