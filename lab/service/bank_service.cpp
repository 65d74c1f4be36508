// The bank service: HTTP in, SQL bank out. See bank_service.hpp; state.hpp says which file holds
// which routes.
#include "service/bank_service.hpp"

#include <httplib.h>

#include <exception>
#include <string>
#include <vector>

#include "service/assets.hpp"
#include "service/state.hpp"

namespace lab::service {

bool BankService::State::authorized(const httplib::Request& req, httplib::Response& res) {
  if (config.admin_token.empty()) return true;
  if (req.get_header_value("Authorization") == "Bearer " + config.admin_token) return true;
  error(res, 401, "admin endpoints need 'Authorization: Bearer <token>' (the --admin-token)");
  return false;
}

json BankService::State::accounts_json() {
  json list = json::array();
  for (const auto& row : db().query_text("SELECT id, balance FROM accounts ORDER BY id", {}))
    list.push_back({{"id", row[0]}, {"balance", std::stoll(row[1])}});
  return list;
}

void BankService::State::reset_bank(Strategy strategy) {
  std::unique_lock lock(reset_mu);
  bank::SqlBank::reset(db(), strategy);  // the ledger too: it starts again from the opening balances
}

json BankService::State::state_json() {
  json s;
  auto accounts = accounts_json();
  std::int64_t total = 0;
  for (const auto& a : accounts) total += a["balance"].get<std::int64_t>();
  s["accounts"] = accounts;
  s["money_total"] = total;
  s["money_expected"] = metrics.money_expected;
  s["transfers"] = metrics.by_status();
  s["race_condition_hits"] = metrics.race_condition_hits.load();
  s["double_spend_detected"] = metrics.double_spend_detected.load();
  s["concurrent_transfers"] = metrics.concurrent_transfers.load();
  s["barrier_waiting"] = window.waiting();
  auto latency = metrics.latency();
  s["latency_ms"] = {{"p50", latency.p50 * 1000}, {"p99", latency.p99 * 1000}, {"samples", latency.samples}};
  json strategies = json::array();
  for (auto st : kAllStrategies) strategies.push_back(std::string(to_string(st)));
  s["strategies"] = strategies;
  const auto backend = db().backend();
  s["database"] = backend == Backend::postgres  ? "postgresql"
                  : backend == Backend::mariadb ? "mariadb"
                                                : "sqlite";
  std::lock_guard lk(settings_mu);
  s["settings"] = settings_json(settings);
  s["barrier_timeouts"] = window.timeout_count();
  return s;
}

BankService::BankService(Config config) : state_(std::make_unique<State>(std::move(config))) {
  auto& st = *state_;
  st.tracer = std::make_unique<Tracer>(TracerOptions{.otlp_endpoint = st.config.otlp_endpoint});
  st.settings = settings_from_env();
  // A database from before the ledger (or none) gets the schema; an existing bank keeps its books.
  bank::SqlBank::ensure_schema(st.db(), st.settings.strategy);
  std::lock_guard lk(st.settings_mu);
  st.rearm();
}

BankService::~BankService() = default;

std::string BankService::metrics_text() {
  auto& st = *state_;
  std::vector<std::pair<std::string, std::int64_t>> balances;
  for (const auto& row : st.db().query_text("SELECT id, balance FROM accounts ORDER BY id", {}))
    balances.emplace_back(row[0], std::stoll(row[1]));
  std::size_t timeouts = 0;
  {
    std::lock_guard lk(st.settings_mu);
    timeouts = st.window.timeout_count();
  }
  auto spans = st.tracer->stats();
  return st.metrics.render(
      balances, st.window.waiting(), timeouts,
      {.exported = spans.exported, .dropped = spans.dropped, .failed_exports = spans.failed_exports},
      st.config.lab_compat);
}

void BankService::mount(httplib::Server& server) {
  auto* st = state_.get();
  server.Get("/health", [](const httplib::Request&, httplib::Response& res) {
    reply(res, 200, {{"status", "ok"}, {"service", "bank-api"}});
  });
  server.Get("/accounts", [st](const httplib::Request&, httplib::Response& res) {
    reply(res, 200, {{"accounts", st->accounts_json()}});
  });
  server.Get(R"(/accounts/([^/]+))", [st](const httplib::Request& req, httplib::Response& res) {
    const std::string id = req.matches[1];
    auto balance = st->db().query_int64("SELECT balance FROM accounts WHERE id = ?", {id});
    if (!balance) return error(res, 404, "unknown account '" + clip(id) + "'");
    reply(res, 200, {{"id", id}, {"balance", *balance}});
  });
  st->post(server, "/reset", [st](const httplib::Request&, httplib::Response& res) {
    st->reset_bank(st->strategy());
    reply(res, 200, {{"status", "reset"}, {"accounts", st->accounts_json()}});
  });
  st->transfer_routes(server);
  server.Get("/", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(std::string(assets::kIndexHtml), "text/html; charset=utf-8");
  });
  server.Get("/docs", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(std::string(assets::kDocsHtml), "text/html; charset=utf-8");
  });
  server.Get("/openapi.json", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(std::string(assets::kOpenApiJson), "application/json");
  });
  server.Get("/api/state",
             [st](const httplib::Request&, httplib::Response& res) { reply(res, 200, st->state_json()); });
  server.Get("/traces", [st](const httplib::Request& req, httplib::Response& res) {
    auto limit = int_param(req, res, "limit", 50, 1, 512);
    if (!limit) return;
    reply(res, 200, {{"spans", st->tracer->recent(static_cast<std::size_t>(*limit))}});
  });
  server.Get("/traces/last-race", [st](const httplib::Request&, httplib::Response& res) {
    reply(res, 200, {{"last_race", st->tracer->last_race()}});
  });
  server.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(metrics_text(), "text/plain; version=0.0.4");
  });
  st->settings_routes(server);
  server.set_pre_routing_handler([st](const httplib::Request& req, httplib::Response& res) {
    // Range is ignored (RFC 9110 lets a server): a byte range of a JSON document is no document, and
    // cpp-httplib 0.11 cuts even error bodies to it. `req` is the server's own (non-const) request,
    // handed to this hook as const.
    if (!req.ranges.empty()) const_cast<httplib::Request&>(req).ranges.clear();
    if (req.method != "POST" || req.has_header("Content-Length") || req.has_header("Transfer-Encoding"))
      return httplib::Server::HandlerResponse::Unhandled;
    auto it = st->posts.find(req.path);
    if (it == st->posts.end()) return httplib::Server::HandlerResponse::Unhandled;
    it->second(req, res);
    return httplib::Server::HandlerResponse::Handled;
  });
  // Every error is a JSON {"error": ...}: httplib's own refusals (a malformed request, a body or URI
  // too large) as well as unknown routes.
  server.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    // cpp-httplib refuses some requests (a bad Range, a URI or header too long, a malformed body)
    // before it has read their bodies, and would then read the next request from the middle of the
    // unread body: the connection closes instead. A 404 comes after the body was read.
    if (res.status != 404) res.set_header("Connection", "close");
    const std::string what = clip(req.method, 32) + " " + clip(req.path, 200);
    switch (res.status) {
      case 404: return error(res, 404, "no route for " + what);
      case 400: return error(res, 400, "malformed request (" + what + ")");
      case 413: return error(res, 413, "the request body is too large (" + what + ")");
      case 414: return error(res, 414, "the request URI is too long");
      case 416: return error(res, 416, "the requested range cannot be satisfied (" + what + ")");
      default: return error(res, res.status, "the request was refused (" + what + ")");
    }
  });
  server.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
    std::string what = "internal error";
    try {
      std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    error(res, 500, what);
  });
}

}  // namespace lab::service
