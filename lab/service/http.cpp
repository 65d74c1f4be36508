#include "service/http.hpp"

#include <charconv>
#include <cstdint>

namespace lab::service {
namespace {

// Whether `name` is absent (nullopt: use the fallback), or its one value; given twice it is a 400.
std::optional<std::optional<std::string>> single_param(const httplib::Request& req, httplib::Response& res,
                                                       const char* name) {
  const auto count = req.get_param_value_count(name);
  if (count == 0) return std::optional<std::string>{};
  if (count > 1) {
    error(res, 400,
          std::string("query parameter '") + name + "' is given " + std::to_string(count) +
              " times (give it once)");
    return std::nullopt;
  }
  return std::optional<std::string>{req.get_param_value(name)};
}

}  // namespace

void reply(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(body.dump(-1, ' ', false, json::error_handler_t::replace), "application/json");
}

void error(httplib::Response& res, int status, const std::string& message) {
  reply(res, status, {{"error", message}});
}

std::string clip(std::string_view s, std::size_t max) {
  if (s.size() <= max) return std::string(s);
  return std::string(s.substr(0, max)) + "... (" + std::to_string(s.size()) + " bytes)";
}

std::optional<json> json_object(const httplib::Request& req, httplib::Response& res) {
  try {
    json body = json::parse(req.body);
    if (body.is_object()) return body;
    error(res, 400, "the body must be a JSON object");
  } catch (const json::exception& e) {  // parse_error, and out_of_range for a number beyond a double
    error(res, 400, std::string("malformed JSON: ") + clip(e.what(), 200));
  }
  return std::nullopt;
}

std::optional<bool> bool_param(const httplib::Request& req, httplib::Response& res, const char* name,
                               bool fallback) {
  auto given = single_param(req, res, name);
  if (!given) return std::nullopt;
  if (!*given) return fallback;
  const std::string& v = **given;
  if (v == "true" || v == "1") return true;
  if (v == "false" || v == "0") return false;
  error(res, 400, std::string("query parameter '") + name + "' must be true or false, got '" + clip(v) + "'");
  return std::nullopt;
}

// Decimal digits with an optional '-', nothing else (no spaces, '+', or bytes after a NUL).
std::optional<int> int_param(const httplib::Request& req, httplib::Response& res, const char* name,
                             int fallback, int lo, int hi) {
  auto given = single_param(req, res, name);
  if (!given) return std::nullopt;
  if (!*given) return fallback;
  const std::string& v = **given;
  std::int64_t n = 0;
  const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (v.empty() || ec != std::errc() || end != v.data() + v.size() || n < lo || n > hi) {
    error(res, 400,
          std::string("query parameter '") + name + "' must be an integer from " + std::to_string(lo) +
              " to " + std::to_string(hi) + ", got '" + clip(v) + "'");
    return std::nullopt;
  }
  return static_cast<int>(n);
}

std::optional<std::string> text_param(const httplib::Request& req, httplib::Response& res, const char* name,
                                      const std::string& fallback) {
  auto given = single_param(req, res, name);
  if (!given) return std::nullopt;
  return given->value_or(fallback);
}

}  // namespace lab::service
