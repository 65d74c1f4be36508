// lab/service/bank_service.hpp — the Lab 21 bank as an HTTP service: a thin adapter over the SQL
// bank, with the lab's switches (delay, barrier, safe mode, strategy), metrics, and the bank's ledger
// and audit (GET /transactions, GET /audit; bank/ledger.hpp).
//
//   lab::service::BankService service({.db = "sqlite:/tmp/bank.db"});
//   httplib::Server server;
//   service.mount(server);
//   server.listen("127.0.0.1", 8000);
//
// Beside the lab's API: GET / (the page), GET /docs and /openapi.json (the API described),
// GET /api/state (what the page shows), GET /traces and /traces/last-race (spans kept in a ring),
// POST /admin/fire (N concurrent transfers started by the server, for the page's button).
//
// Paths, query parameters and JSON shapes follow the original lab, with its defects fixed: money is
// an integer; the barrier sits between the read and the write (transfer.after_read), so a barrier
// alone forces the race and a safe strategy is released at once; a barrier wait times out and its
// count stays right; same-account, zero, negative, fractional and huge amounts are refused (400);
// unknown accounts are 404; insufficient funds is 409 with the record (200 with lab_compat);
// /reset is safe while transfers are in flight.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

namespace httplib {
class Server;
}

namespace lab::service {

struct Config {
  std::string db = "sqlite:racelab-bank.db";  // sqlite:PATH, a PostgreSQL conninfo / URL, or mariadb://…
  std::string admin_token{};                  // required on /admin/* when set
  bool lab_compat = false;                    // insufficient funds answers 200, as the original did
  int barrier_timeout_ms = 10'000;
  std::string otlp_endpoint{};  // export a span per transfer as OTLP/HTTP JSON (http://host:4318)
};

class BankService {
 public:
  explicit BankService(Config config);  // applies DEBUG_DELAY_*, BARRIER_*, USE_TRANSACTIONS
  ~BankService();
  BankService(const BankService&) = delete;
  BankService& operator=(const BankService&) = delete;
  void mount(httplib::Server& server);
  std::string metrics_text();  // Prometheus text format

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace lab::service
