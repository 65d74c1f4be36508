#include "service/request.hpp"

#include <cmath>
#include <stdexcept>

#include "bank/idempotency.hpp"

namespace lab::service {
namespace {

const std::string kTooLarge = "'amount' is too large (at most " + std::to_string(kMaxAmount) + ")";

// An integer setting from `lo` to `hi`; nullopt when the value is not one (of any size).
std::optional<int> int_setting(const json& value, int lo, int hi) {
  std::int64_t v = 0;
  if (value.is_number_unsigned()) {
    if (value.get<std::uint64_t>() > static_cast<std::uint64_t>(hi)) return std::nullopt;
    v = static_cast<std::int64_t>(value.get<std::uint64_t>());
  } else if (value.is_number_integer()) {
    v = value.get<std::int64_t>();
  } else {
    return std::nullopt;
  }
  if (v < lo || v > hi) return std::nullopt;
  return static_cast<int>(v);
}

}  // namespace

std::string describe(const json& value) {
  if (value.is_array()) return "an array of " + std::to_string(value.size());
  if (value.is_object()) return "an object of " + std::to_string(value.size()) + " members";
  return clip(value.dump(-1, ' ', false, json::error_handler_t::replace));
}

std::string idempotency_key(const httplib::Request& req) {
  const auto count = req.get_header_value_count("Idempotency-Key");
  if (count == 0) return {};
  if (count > 1)
    throw std::invalid_argument("the Idempotency-Key header is given " + std::to_string(count) +
                                " times (give one key)");
  std::string key = req.get_header_value("Idempotency-Key");
  if (key.size() >= 2 && key.front() == '"' && key.back() == '"') key = key.substr(1, key.size() - 2);
  bank::check_idempotency_key(key);
  return key;
}

std::optional<TransferRequest> transfer_request(const httplib::Request& req, httplib::Response& res) {
  auto parsed = json_object(req, res);
  if (!parsed) return std::nullopt;
  const json& body = *parsed;
  auto refuse = [&res](const std::string& message) {
    error(res, 400, message);
    return std::nullopt;
  };
  for (const char* field : {"from_account", "to_account", "amount"})
    if (!body.contains(field)) return refuse(std::string("missing field '") + field + "'");
  if (!body["from_account"].is_string() || !body["to_account"].is_string())
    return refuse("'from_account' and 'to_account' must be strings");
  const json& a = body["amount"];
  TransferRequest t;
  if (a.is_number_unsigned()) {
    if (a.get<std::uint64_t>() > static_cast<std::uint64_t>(kMaxAmount)) return refuse(kTooLarge);
    t.amount = static_cast<std::int64_t>(a.get<std::uint64_t>());
  } else if (a.is_number_integer()) {
    t.amount = a.get<std::int64_t>();
  } else if (a.is_number_float()) {
    const double d = a.get<double>();
    if (!std::isfinite(d) || std::floor(d) != d)
      return refuse("'amount' must be a whole number of units, got " + describe(a));
    if (std::fabs(d) > static_cast<double>(kMaxAmount)) return refuse(kTooLarge);
    t.amount = static_cast<std::int64_t>(d);
  } else {
    return refuse("'amount' must be a number, got " + describe(a));
  }
  if (t.amount <= 0) return refuse("'amount' must be positive, got " + std::to_string(t.amount));
  if (t.amount > kMaxAmount) return refuse(kTooLarge);
  t.from = body["from_account"].get<std::string>();
  t.to = body["to_account"].get<std::string>();
  if (t.from == t.to) return refuse("cannot transfer from '" + clip(t.from) + "' to itself");
  try {
    t.idempotency_key = idempotency_key(req);
  } catch (const std::invalid_argument& e) {
    return refuse(e.what());
  }
  return t;
}

std::optional<Settings> settings_request(const httplib::Request& req, httplib::Response& res, Settings next) {
  auto body = json_object(req, res);
  if (!body) return std::nullopt;
  auto refuse = [&res](const std::string& message) {
    error(res, 400, message);
    return std::nullopt;
  };
  for (const auto& [key, value] : body->items()) {
    if (key == "delay_enabled" || key == "barrier_enabled" || key == "use_transactions") {
      if (!value.is_boolean()) return refuse("'" + key + "' must be true or false");
      const bool on = value.get<bool>();
      if (key == "delay_enabled")
        next.delay_enabled = on;
      else if (key == "barrier_enabled")
        next.barrier_enabled = on;
      else
        next.strategy = on ? Strategy::mutex : Strategy::unsafe;
    } else if (key == "delay_ms" || key == "barrier_count") {
      if (!value.is_number_integer()) return refuse("'" + key + "' must be an integer");
      const bool delay = key == "delay_ms";
      auto v = delay ? int_setting(value, 0, 60'000) : int_setting(value, 1, 60);
      if (!v)
        return refuse(delay ? "'delay_ms' must be from 0 to 60000" : "'barrier_count' must be from 1 to 60");
      (delay ? next.delay_ms : next.barrier_count) = *v;
    } else if (key == "strategy") {
      auto s = value.is_string() ? parse_strategy(value.get<std::string>()) : std::nullopt;
      if (!s) return refuse("unknown strategy " + describe(value));
      next.strategy = *s;
    } else {
      return refuse("unknown setting '" + clip(key) + "'");
    }
  }
  return next;
}

}  // namespace lab::service
