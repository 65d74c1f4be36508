#include "service/http.hpp"

#include <cstdlib>

namespace lab::service {

void reply(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(body.dump(), "application/json");
}

void error(httplib::Response& res, int status, const std::string& message) {
  reply(res, status, {{"error", message}});
}

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

}  // namespace lab::service
