// The bank service: HTTP in, SQL bank out. See bank_service.hpp.
#include "service/bank_service.hpp"

#include <httplib.h>
#include <racelab/hooks.hpp>
#include <racelab/observe.hpp>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <ctime>
#include <deque>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <shared_mutex>
#include <sstream>
#include <thread>
#include <unordered_map>

#include "bank/sql_bank.hpp"
#include "service/assets.hpp"
#include "service/metrics.hpp"
#include "service/tracing.hpp"

namespace lab::service {
namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr std::int64_t kMaxAmount = 1'000'000'000'000;  // refuse "huge" amounts outright
constexpr std::size_t kLogSize = 1000;

struct Settings {
  bool delay_enabled = false;
  int delay_ms = 100;
  bool barrier_enabled = false;
  int barrier_count = 2;
  Strategy strategy = Strategy::unsafe;
};

json settings_json(const Settings& s) {
  return {{"delay_enabled", s.delay_enabled},
          {"delay_ms", s.delay_ms},
          {"barrier_enabled", s.barrier_enabled},
          {"barrier_count", s.barrier_count},
          {"use_transactions", s.strategy != Strategy::unsafe},
          {"strategy", std::string(to_string(s.strategy))}};
}

bool env_flag(const char* name, bool fallback) {
  const char* v = std::getenv(name);
  if (v == nullptr) return fallback;
  std::string s(v);
  return s == "1" || s == "true" || s == "True" || s == "yes";
}

int env_int(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::atoi(v) : fallback;
}

std::string now_iso8601() {
  auto now = std::chrono::system_clock::now();
  auto secs = std::chrono::system_clock::to_time_t(now);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[40];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  char out[48];
  std::snprintf(out, sizeof out, "%s.%03lldZ", buf, static_cast<long long>(ms));
  return out;
}

void reply(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(body.dump(), "application/json");
}

void error(httplib::Response& res, int status, const std::string& message) {
  reply(res, status, {{"error", message}});
}

// The request body as a JSON object; nullopt (and a 400 already written) otherwise.
std::optional<json> json_object(const httplib::Request& req, httplib::Response& res) {
  try {
    json body = json::parse(req.body);
    if (body.is_object()) return body;
    error(res, 400, "the body must be a JSON object");
  } catch (const json::parse_error& e) {
    error(res, 400, std::string("malformed JSON: ") + e.what());
  }
  return std::nullopt;
}

// A query parameter as a bool; nullopt (and a 400 already written) when it is malformed.
std::optional<bool> bool_param(const httplib::Request& req, httplib::Response& res, const char* name,
                               bool fallback) {
  if (!req.has_param(name)) return fallback;
  auto v = req.get_param_value(name);
  if (v == "true" || v == "1") return true;
  if (v == "false" || v == "0") return false;
  error(res, 400, std::string("query parameter '") + name + "' must be true or false, got '" + v + "'");
  return std::nullopt;
}

std::optional<int> int_param(const httplib::Request& req, httplib::Response& res, const char* name,
                             int fallback, int lo, int hi) {
  if (!req.has_param(name)) return fallback;
  auto v = req.get_param_value(name);
  char* end = nullptr;
  long n = std::strtol(v.c_str(), &end, 10);
  if (v.empty() || *end != '\0' || n < lo || n > hi) {
    error(res, 400,
          std::string("query parameter '") + name + "' must be an integer from " + std::to_string(lo) +
              " to " + std::to_string(hi) + ", got '" + v + "'");
    return std::nullopt;
  }
  return static_cast<int>(n);
}

}  // namespace

struct BankService::State {
  Config config;
  std::mutex settings_mu;
  Settings settings;
  std::unique_ptr<racelab::Hooks> hooks;
  std::atomic<int> waiting{0};
  std::shared_mutex reset_mu;  // transfers share it; /reset takes it alone
  std::mutex log_mu;
  std::deque<json> log;
  std::uint64_t next_id = 1;
  Metrics metrics;
  std::unique_ptr<Tracer> tracer;
  // POST routes by path, so a POST without a body (curl -X POST "…?enabled=true", as the lab's
  // walk-through sends) can be served: cpp-httplib refuses those before routing.
  std::map<std::string, httplib::Server::Handler> posts;
  void post(httplib::Server& server, const std::string& path, httplib::Server::Handler handler) {
    posts[path] = handler;
    server.Post(path, std::move(handler));
  }

  // One connection per server thread, per service.
  Db& db() {
    thread_local std::unordered_map<const State*, std::unique_ptr<Db>> connections;
    auto& conn = connections[this];
    if (!conn) conn = open_db(config.db);
    return *conn;
  }

  // Re-arms the window's hooks from the settings. Caller holds settings_mu. Replacing the scope
  // releases anyone held by the old one (racelab::Hooks is airtight). With both switches off there
  // is no scope, so points cost what a PointLog makes them cost and nothing more.
  void rearm() {
    hooks.reset();
    if (!settings.barrier_enabled && !settings.delay_enabled) return;  // nothing to hold: no scope at all
    auto h = std::make_unique<racelab::Hooks>();
    h->before("transfer.after_read", [this] { ++waiting; }).always();
    h->after("transfer.after_read", [this] { --waiting; }).always();
    if (settings.barrier_enabled)
      h->barrier("transfer.after_read", settings.barrier_count,
                 std::chrono::milliseconds(config.barrier_timeout_ms));
    // The delay widens every window: after the first read, and after the read a safe strategy
    // repeats inside its critical section (where an in-process lock is all `mutex` has).
    if (settings.delay_enabled) {
      h->delay("transfer.after_read", std::chrono::milliseconds(settings.delay_ms));
      h->delay("transfer.after_locked_read", std::chrono::milliseconds(settings.delay_ms));
    }
    hooks = std::move(h);
  }

  bool authorized(const httplib::Request& req, httplib::Response& res) {
    if (config.admin_token.empty()) return true;
    if (req.get_header_value("Authorization") == "Bearer " + config.admin_token) return true;
    error(res, 401, "admin endpoints need 'Authorization: Bearer <token>' (the --admin-token)");
    return false;
  }

  json accounts_json() {
    json list = json::array();
    for (const auto& row : db().query_text("SELECT id, balance FROM accounts ORDER BY id", {}))
      list.push_back({{"id", row[0]}, {"balance", std::stoll(row[1])}});
    return list;
  }

  void reset_bank(Strategy strategy) {
    std::unique_lock lock(reset_mu);
    bank::SqlBank::reset(db(), strategy);
    std::lock_guard lk(log_mu);
    log.clear();
  }

  void transfer(const httplib::Request& req, httplib::Response& res);
  std::pair<int, json> execute(const std::string& from, const std::string& to, std::int64_t amount,
                               const std::string& traceparent);
  void fire(const httplib::Request& req, httplib::Response& res);
  json state_json();
  void settings_routes(httplib::Server& server);
};

void BankService::State::transfer(const httplib::Request& req, httplib::Response& res) {
  auto parsed = json_object(req, res);
  if (!parsed) return;
  json& body = *parsed;
  for (const char* field : {"from_account", "to_account", "amount"})
    if (!body.contains(field)) return error(res, 400, std::string("missing field '") + field + "'");
  if (!body["from_account"].is_string() || !body["to_account"].is_string())
    return error(res, 400, "'from_account' and 'to_account' must be strings");
  const auto& a = body["amount"];
  std::int64_t amount = 0;
  if (a.is_number_integer()) {
    if (a.is_number_unsigned() && a.get<std::uint64_t>() > static_cast<std::uint64_t>(kMaxAmount))
      return error(res, 400, "'amount' is too large (at most " + std::to_string(kMaxAmount) + ")");
    amount = a.get<std::int64_t>();
  } else if (a.is_number_float()) {
    double d = a.get<double>();
    if (std::floor(d) != d)
      return error(res, 400, "'amount' must be a whole number of units, got " + a.dump());
    if (std::fabs(d) > static_cast<double>(kMaxAmount))
      return error(res, 400, "'amount' is too large (at most " + std::to_string(kMaxAmount) + ")");
    amount = static_cast<std::int64_t>(d);
  } else {
    return error(res, 400, "'amount' must be a number, got " + a.dump());
  }
  if (amount <= 0) return error(res, 400, "'amount' must be positive, got " + std::to_string(amount));
  if (amount > kMaxAmount)
    return error(res, 400, "'amount' is too large (at most " + std::to_string(kMaxAmount) + ")");
  const std::string from = body["from_account"], to = body["to_account"];
  if (from == to) return error(res, 400, "cannot transfer from '" + from + "' to itself");
  auto [status, record] = execute(from, to, amount, req.get_header_value("traceparent"));
  reply(res, status, record);
}

// One validated transfer: the bank, the metrics, the log and the span. Returns the HTTP status and
// the body (the transfer record, or an error).
std::pair<int, json> BankService::State::execute(const std::string& from, const std::string& to,
                                                 std::int64_t amount, const std::string& traceparent) {
  Strategy strategy;
  {
    std::lock_guard lk(settings_mu);
    strategy = settings.strategy;
  }
  Span span = tracer->start("transfer", traceparent);
  span.attributes = {{"transfer.from", from},
                     {"transfer.to", to},
                     {"transfer.amount", amount},
                     {"racelab.strategy", std::string(to_string(strategy))}};
  std::shared_lock lock(reset_mu);
  metrics.concurrent_transfers += 1;
  struct Done {
    Metrics& m;
    ~Done() { m.concurrent_transfers -= 1; }
  } done{metrics};
  const auto start = Clock::now();
  bank::SqlBank bank(db());
  bank::TransferResult r;
  auto finish = [&](int status, json body) {
    span.attributes["http.response.status_code"] = status;
    tracer->finish(std::move(span));
    return std::pair<int, json>{status, std::move(body)};
  };
  struct Refusal {
    int status;
    const char* outcome;
    std::string message;
  };
  std::optional<Refusal> refusal;
  {
    racelab::PointLog passed;
    const auto wall = now_unix_nano();
    const auto steady = Clock::now();
    try {
      r = bank.transfer(from, to, amount, strategy);
    } catch (const bank::UnknownAccount& e) {
      refusal = Refusal{404, "failed_unknown_account", e.what()};
    } catch (const bank::InvalidTransfer& e) {
      refusal = Refusal{400, "failed_invalid", e.what()};
    } catch (const DbBusy&) {
      refusal = Refusal{409, "failed_busy", "the account is busy (nowait): retry later"};
    } catch (const DbConflict& e) {
      refusal = Refusal{409, "failed_conflict", std::string("gave up after repeated conflicts: ") + e.what()};
    }
    // The points this transfer passed become the span's events, on the wall clock.
    json names = json::array();
    for (const auto& e : passed.entries()) {
      span.events.push_back(
          {std::string(e.point),
           wall + std::chrono::duration_cast<std::chrono::nanoseconds>(e.at - steady).count()});
      names.push_back(std::string(e.point));
    }
    span.attributes["racelab.points"] = std::move(names);
  }
  if (refusal) {
    metrics.transfer(strategy, refusal->outcome, 0);
    span.attributes["transfer.status"] = refusal->outcome;
    span.attributes["error.message"] = refusal->message;
    span.error = true;
    return finish(refusal->status, {{"error", refusal->message}});
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  const bool success = r.status == bank::TransferStatus::success;
  // A race hit: the source balance changed between this transfer's check and its write (another
  // transfer got in). A double-spend: the transfer succeeded and left the source below zero.
  const bool race = success && r.from_balance_after != r.from_balance_before - amount;
  const bool double_spend = success && r.from_balance_after < 0;
  metrics.transfer(strategy, std::string(to_string(r.status)), seconds);
  metrics.retries(strategy, bank.retries());
  if (race) metrics.race_condition_hits += 1;
  if (double_spend) metrics.double_spend_detected += 1;
  json record = {{"from_account", from},
                 {"to_account", to},
                 {"amount", amount},
                 {"timestamp", now_iso8601()},
                 {"from_balance_before", r.from_balance_before},
                 {"from_balance_after", r.from_balance_after},
                 {"to_balance_before", r.to_balance_before},
                 {"to_balance_after", r.to_balance_after},
                 {"status", std::string(to_string(r.status))},
                 {"strategy", std::string(to_string(strategy))},
                 {"race_condition_detected", race},
                 {"duration_ms", seconds * 1000.0}};
  {
    std::lock_guard lk(log_mu);
    char id[32];
    std::snprintf(id, sizeof id, "tx-%06llu", static_cast<unsigned long long>(next_id++));
    record["id"] = id;
    log.push_front(record);
    if (log.size() > kLogSize) log.pop_back();
  }
  span.attributes["transfer.id"] = record["id"];
  span.attributes["transfer.status"] = record["status"];
  span.attributes["race_condition.detected"] = race;
  span.attributes["double_spend.detected"] = double_spend;
  for (const char* key :
       {"from_balance_before", "from_balance_after", "to_balance_before", "to_balance_after"})
    span.attributes[std::string("transfer.") + key] = record[key];
  return finish(success || config.lab_compat ? 200 : 409, std::move(record));
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
  s["barrier_waiting"] = waiting.load();
  auto latency = metrics.latency();
  s["latency_ms"] = {{"p50", latency.p50 * 1000}, {"p99", latency.p99 * 1000}, {"samples", latency.samples}};
  json strategies = json::array();
  for (auto st : kAllStrategies) strategies.push_back(std::string(to_string(st)));
  s["strategies"] = strategies;
  s["database"] = db().backend() == Backend::postgres ? "postgresql" : "sqlite";
  std::lock_guard lk(settings_mu);
  s["settings"] = settings_json(settings);
  s["barrier_timeouts"] = hooks ? hooks->timeout_count() : 0;
  return s;
}

// POST /admin/fire?n=2&from=alice&to=bob&amount=800: N transfers at once, each on a thread of its
// own (the page's button; a browser would queue all but six of them on its connection limit).
void BankService::State::fire(const httplib::Request& req, httplib::Response& res) {
  auto n = int_param(req, res, "n", 2, 1, 64);
  if (!n) return;
  const std::string from = req.has_param("from") ? req.get_param_value("from") : "alice";
  const std::string to = req.has_param("to") ? req.get_param_value("to") : "bob";
  auto amount = int_param(req, res, "amount", 800, 1, 1'000'000'000);
  if (!amount) return;
  if (from == to) return error(res, 400, "cannot transfer from '" + from + "' to itself");
  for (const auto& id : {from, to})
    if (!db().query_int64("SELECT balance FROM accounts WHERE id = ?", {id}))
      return error(res, 404, "unknown account '" + id + "'");
  std::vector<std::pair<int, json>> results(static_cast<std::size_t>(*n));
  {
    std::vector<std::thread> threads;
    for (std::size_t i = 0; i < results.size(); ++i)
      threads.emplace_back([&, i] { results[i] = execute(from, to, *amount, {}); });
    for (auto& t : threads) t.join();
  }
  json list = json::array();
  std::map<std::string, int> summary;
  int double_spends = 0;
  for (auto& [status, body] : results) {
    ++summary[body.contains("status") ? body["status"].get<std::string>() : "error"];
    if (body.value("from_balance_after", std::int64_t{0}) < 0 && body.value("status", "") == "success")
      ++double_spends;
    list.push_back({{"http_status", status}, {"body", body}});
  }
  reply(res, 200, {{"fired", *n}, {"summary", summary}, {"double_spends", double_spends}, {"results", list}});
}

void BankService::State::settings_routes(httplib::Server& server) {
  auto admin = [this](auto fn) {
    return [this, fn](const httplib::Request& req, httplib::Response& res) {
      if (!authorized(req, res)) return;
      fn(req, res);
    };
  };
  auto update = [this](httplib::Response& res, auto change) {
    std::lock_guard lk(settings_mu);
    Settings before = settings;
    change(settings);
    rearm();
    if ((before.strategy == Strategy::constraint) != (settings.strategy == Strategy::constraint)) {
      reset_bank(settings.strategy);  // the CHECK lives in the schema
    }
    reply(res, 200, settings_json(settings));
  };
  post(server, "/admin/delay", admin([this, update](const httplib::Request& req, httplib::Response& res) {
         auto enabled = bool_param(req, res, "enabled", true);
         if (!enabled) return;
         std::optional<int> ms;
         {
           std::lock_guard lk(settings_mu);
           ms = int_param(req, res, "ms", settings.delay_ms, 0, 60'000);
         }
         if (!ms) return;
         update(res, [&](Settings& s) {
           s.delay_enabled = *enabled;
           s.delay_ms = *ms;
         });
       }));
  post(server, "/admin/barrier", admin([this, update](const httplib::Request& req, httplib::Response& res) {
         auto enabled = bool_param(req, res, "enabled", true);
         if (!enabled) return;
         std::optional<int> count;
         {
           std::lock_guard lk(settings_mu);
           count = int_param(req, res, "count", settings.barrier_count, 1, 60);
         }
         if (!count) return;
         update(res, [&](Settings& s) {
           s.barrier_enabled = *enabled;
           s.barrier_count = *count;
         });
       }));
  post(server, "/admin/transactions", admin([update](const httplib::Request& req, httplib::Response& res) {
         auto enabled = bool_param(req, res, "enabled", true);
         if (!enabled) return;
         update(res, [&](Settings& s) { s.strategy = *enabled ? Strategy::mutex : Strategy::unsafe; });
       }));
  post(server, "/admin/strategy", admin([update](const httplib::Request& req, httplib::Response& res) {
         auto name = req.get_param_value("name");
         auto strategy = parse_strategy(name);
         if (!strategy) {
           std::string names;
           for (auto s : kAllStrategies) names += (names.empty() ? "" : ", ") + std::string(to_string(s));
           return error(res, 400, "unknown strategy '" + name + "' (one of: " + names + ")");
         }
         update(res, [&](Settings& s) { s.strategy = *strategy; });
       }));
  post(server, "/admin/fire",
       admin([this](const httplib::Request& req, httplib::Response& res) { fire(req, res); }));
  server.Get("/admin/settings", admin([this](const httplib::Request&, httplib::Response& res) {
               std::lock_guard lk(settings_mu);
               reply(res, 200, settings_json(settings));
             }));
  post(server, "/admin/settings", admin([this, update](const httplib::Request& req, httplib::Response& res) {
         auto body = json_object(req, res);
         if (!body) return;
         Settings next;
         {
           std::lock_guard lk(settings_mu);
           next = settings;
         }
         for (auto& [key, value] : body->items()) {
           if ((key == "delay_enabled" || key == "barrier_enabled" || key == "use_transactions") &&
               !value.is_boolean())
             return error(res, 400, "'" + key + "' must be true or false");
           if ((key == "delay_ms" || key == "barrier_count") && !value.is_number_integer())
             return error(res, 400, "'" + key + "' must be an integer");
           if (key == "delay_enabled")
             next.delay_enabled = value;
           else if (key == "delay_ms") {
             int v = value;
             if (v < 0 || v > 60'000) return error(res, 400, "'delay_ms' must be from 0 to 60000");
             next.delay_ms = v;
           } else if (key == "barrier_enabled")
             next.barrier_enabled = value;
           else if (key == "barrier_count") {
             int v = value;
             if (v < 1 || v > 60) return error(res, 400, "'barrier_count' must be from 1 to 60");
             next.barrier_count = v;
           } else if (key == "use_transactions")
             next.strategy = value.get<bool>() ? Strategy::mutex : Strategy::unsafe;
           else if (key == "strategy") {
             auto s = value.is_string() ? parse_strategy(value.get<std::string>()) : std::nullopt;
             if (!s) return error(res, 400, "unknown strategy " + value.dump());
             next.strategy = *s;
           } else {
             return error(res, 400, "unknown setting '" + key + "'");
           }
         }
         update(res, [&](Settings& s) { s = next; });
       }));
}

BankService::BankService(Config config) : state_(std::make_unique<State>()) {
  auto& st = *state_;
  st.config = std::move(config);
  st.tracer = std::make_unique<Tracer>(TracerOptions{.otlp_endpoint = st.config.otlp_endpoint});
  st.settings.delay_enabled = env_flag("DEBUG_DELAY_ENABLED", false);
  st.settings.delay_ms = env_int("DEBUG_DELAY_MS", 100);
  st.settings.barrier_enabled = env_flag("BARRIER_ENABLED", false);
  st.settings.barrier_count = std::max(1, env_int("BARRIER_COUNT", 2));
  st.settings.strategy = env_flag("USE_TRANSACTIONS", false) ? Strategy::mutex : Strategy::unsafe;
  auto& db = st.db();
  bool exists = true;
  try {
    db.query_int64("SELECT count(*) FROM accounts", {});
  } catch (const std::exception&) {
    exists = false;
  }
  if (!exists) bank::SqlBank::reset(db, st.settings.strategy);
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
    timeouts = st.hooks ? st.hooks->timeout_count() : 0;
  }
  auto spans = st.tracer->stats();
  return st.metrics.render(
      balances, st.waiting.load(), timeouts,
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
    if (!balance) return error(res, 404, "unknown account '" + id + "'");
    reply(res, 200, {{"id", id}, {"balance", *balance}});
  });
  st->post(server, "/reset", [st](const httplib::Request&, httplib::Response& res) {
    Strategy strategy;
    {
      std::lock_guard lk(st->settings_mu);
      strategy = st->settings.strategy;
    }
    st->reset_bank(strategy);
    reply(res, 200, {{"status", "reset"}, {"accounts", st->accounts_json()}});
  });
  st->post(server, "/transfer",
           [st](const httplib::Request& req, httplib::Response& res) { st->transfer(req, res); });
  server.Get("/transactions", [st](const httplib::Request& req, httplib::Response& res) {
    auto limit = int_param(req, res, "limit", 20, 1, static_cast<int>(kLogSize));
    if (!limit) return;
    json list = json::array();
    std::lock_guard lk(st->log_mu);
    for (std::size_t i = 0; i < st->log.size() && i < static_cast<std::size_t>(*limit); ++i)
      list.push_back(st->log[i]);
    reply(res, 200, {{"transactions", list}});
  });
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
    if (req.method != "POST" || req.has_header("Content-Length") || req.has_header("Transfer-Encoding"))
      return httplib::Server::HandlerResponse::Unhandled;
    auto it = st->posts.find(req.path);
    if (it == st->posts.end()) return httplib::Server::HandlerResponse::Unhandled;
    it->second(req, res);
    return httplib::Server::HandlerResponse::Handled;
  });
  server.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (res.body.empty()) error(res, res.status, "no route for " + req.method + " " + req.path);
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
