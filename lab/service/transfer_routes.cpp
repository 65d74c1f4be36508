// Transfers over HTTP: POST /transfer and /admin/fire run them; GET /transactions and GET /audit
// read the domain's ledger (bank/ledger.hpp), which the transfer wrote in its own transaction.
#include <racelab/observe.hpp>
#include <racelab/point.hpp>

#include <chrono>
#include <optional>
#include <thread>
#include <vector>

#include "service/state.hpp"

namespace lab::service {
namespace {

using Clock = std::chrono::steady_clock;

// A ledger row as the API shows it: POST /transfer's answer (and its idempotent replay), and each
// entry of GET /transactions.
json row_json(const bank::LedgerRow& r) {
  const bool success = r.status == to_string(bank::TransferStatus::success);
  return {{"id", r.id},
          {"from_account", r.from},
          {"to_account", r.to},
          {"amount", r.amount},
          {"timestamp", r.timestamp},
          {"from_balance_before", r.from_balance_before},
          {"from_balance_after", r.from_balance_after},
          {"to_balance_before", r.to_balance_before},
          {"to_balance_after", r.to_balance_after},
          {"status", r.status},
          {"strategy", r.strategy},
          {"race_condition_detected", success && r.from_balance_after != r.from_balance_before - r.amount},
          {"idempotency_key", r.idempotency_key.empty() ? json(nullptr) : json(r.idempotency_key)}};
}

}  // namespace

json audit_json(const bank::AuditReport& a) {
  json accounts = json::array();
  for (const auto& acc : a.accounts)
    accounts.push_back({{"id", acc.id},
                        {"balance", acc.balance},
                        {"opening_balance", acc.opening_balance},
                        {"ledger_movements", acc.movements},
                        {"matches_ledger", acc.matches()}});
  return {{"clean", a.clean()},
          {"money_total", a.money_total},
          {"money_expected", a.money_expected},
          {"ledger_rows", a.ledger_rows},
          {"ledger_successes", a.ledger_successes},
          {"problems", a.problems()},
          {"accounts", accounts}};
}

void BankService::State::transfer_routes(httplib::Server& server) {
  post(server, "/transfer",
       [this](const httplib::Request& req, httplib::Response& res) { transfer(req, res); });
  server.Get("/transactions", [this](const httplib::Request& req, httplib::Response& res) {
    auto limit = int_param(req, res, "limit", 20, 1, kListMax);
    if (!limit) return;
    json list = json::array();
    for (const auto& row : bank::ledger::recent(db(), *limit)) list.push_back(row_json(row));
    reply(res, 200, {{"transactions", list}});
  });
  server.Get("/audit", [this](const httplib::Request&, httplib::Response& res) {
    reply(res, 200, audit_json(bank::audit(db())));
  });
}

void BankService::State::transfer(const httplib::Request& req, httplib::Response& res) {
  auto t = transfer_request(req, res);
  if (!t) return;
  std::optional<bank::KeysInFlight::Claim> claim;
  try {
    claim.emplace(keys_in_flight.claim(t->idempotency_key));
  } catch (const bank::KeyInFlight& e) {
    return error(res, 409, e.what());
  }
  auto answer = execute(t->from, t->to, t->amount, req.get_header_value("traceparent"), t->idempotency_key);
  if (answer.replayed) res.set_header("Idempotent-Replayed", "true");
  reply(res, answer.status, answer.body);
}

// One validated transfer: the bank (and its ledger row), the metrics and the span. Returns the HTTP status
// and the body (the transfer record, or an error).
BankService::State::Answer BankService::State::execute(const std::string& from, const std::string& to,
                                                       std::int64_t amount, const std::string& traceparent,
                                                       const std::string& idempotency_key) {
  const Strategy strategy = this->strategy();
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
  auto finish = [&](int status, json body, bool replayed = false) {
    span.attributes["http.response.status_code"] = status;
    tracer->finish(std::move(span));
    return Answer{status, std::move(body), replayed};
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
      r = bank.transfer(from, to, amount, strategy, idempotency_key);
    } catch (const bank::IdempotencyMismatch& e) {
      refusal = Refusal{422, "failed_idempotency_mismatch", e.what()};
    } catch (const bank::UnknownAccount& e) {
      refusal = Refusal{404, "failed_unknown_account", e.what()};
    } catch (const bank::InvalidTransfer& e) {
      refusal = Refusal{400, "failed_invalid", e.what()};
    } catch (const DbBusy&) {
      refusal = Refusal{409, "failed_busy", "the account is busy (nowait): retry later"};
    } catch (const DbConflict& e) {
      refusal = Refusal{409, "failed_conflict", std::string("gave up after repeated conflicts: ") + e.what()};
    } catch (const DbLost& e) {
      // The answer is unknown (the COMMIT may have taken effect): the client must retry, and only a
      // retry with the same Idempotency-Key is safe.
      refusal = Refusal{503, "failed_lost",
                        std::string("the database connection was lost, so the transfer may or may not have "
                                    "happened: retry with the same Idempotency-Key (") +
                            e.what() + ")"};
    } catch (const DbTimeout& e) {
      refusal =
          Refusal{503, "failed_timeout", std::string("the database timed out: retry (") + e.what() + ")"};
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
  const bool success = r.status == bank::TransferStatus::success;
  const int status = success || config.lab_compat ? 200 : 409;
  if (bank.replayed()) {
    // The original answer, from the ledger: nothing moved, so nothing is counted as a transfer.
    metrics.idempotent_replays += 1;
    span.attributes["transfer.id"] = bank.recorded().id;
    span.attributes["transfer.idempotent_replay"] = true;
    return finish(status, row_json(bank.recorded()), true);
  }
  // The transfer and its ledger row are committed; the client has not been answered yet. A process
  // killed here leaves a transfer that happened but was never acknowledged: only a retry with the
  // same Idempotency-Key is then safe (tests/service/crash_test.cpp).
  RACELAB_POINT("transfer.after_commit");
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  // A race hit: the source balance changed between this transfer's check and its write (another
  // transfer got in). A double-spend: the transfer succeeded and left the source below zero.
  const bool race = success && r.from_balance_after != r.from_balance_before - amount;
  const bool double_spend = success && r.from_balance_after < 0;
  metrics.transfer(strategy, std::string(to_string(r.status)), seconds);
  metrics.retries(strategy, bank.retries());
  if (race) metrics.race_condition_hits += 1;
  if (double_spend) metrics.double_spend_detected += 1;
  // The ledger row the transfer committed with its balances: its id and time are the ledger's.
  const bank::LedgerRow& row = bank.recorded();
  json record = row_json(row);
  record["duration_ms"] = seconds * 1000.0;
  span.attributes["transfer.id"] = record["id"];
  span.attributes["transfer.status"] = record["status"];
  span.attributes["race_condition.detected"] = race;
  span.attributes["double_spend.detected"] = double_spend;
  for (const char* key :
       {"from_balance_before", "from_balance_after", "to_balance_before", "to_balance_after"})
    span.attributes[std::string("transfer.") + key] = record[key];
  return finish(status, std::move(record));
}

// POST /admin/fire?n=2&from=alice&to=bob&amount=800: N transfers at once, each on a thread of its
// own (the page's button; a browser would queue all but six of them on its connection limit).
void BankService::State::fire(const httplib::Request& req, httplib::Response& res) {
  auto n = int_param(req, res, "n", 2, 1, 64);
  if (!n) return;
  auto from_param = text_param(req, res, "from", "alice");
  if (!from_param) return;
  auto to_param = text_param(req, res, "to", "bob");
  if (!to_param) return;
  const std::string from = *from_param, to = *to_param;
  auto amount = int_param(req, res, "amount", 800, 1, 1'000'000'000);
  if (!amount) return;
  if (from == to) return error(res, 400, "cannot transfer from '" + clip(from) + "' to itself");
  for (const auto& id : {from, to})
    if (!db().query_int64("SELECT balance FROM accounts WHERE id = ?", {id}))
      return error(res, 404, "unknown account '" + clip(id) + "'");
  std::vector<Answer> results(static_cast<std::size_t>(*n));
  {
    std::vector<std::thread> threads;
    for (std::size_t i = 0; i < results.size(); ++i)
      threads.emplace_back([&, i] { results[i] = execute(from, to, *amount, {}); });
    for (auto& t : threads) t.join();
  }
  json list = json::array();
  std::map<std::string, int> summary;
  int double_spends = 0;
  for (auto& [status, body, replayed] : results) {
    ++summary[body.contains("status") ? body["status"].get<std::string>() : "error"];
    if (body.value("from_balance_after", std::int64_t{0}) < 0 && body.value("status", "") == "success")
      ++double_spends;
    list.push_back({{"http_status", status}, {"body", body}});
  }
  reply(res, 200, {{"fired", *n}, {"summary", summary}, {"double_spends", double_spends}, {"results", list}});
}

}  // namespace lab::service
