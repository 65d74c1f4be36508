// libFuzzer target for what the service reads out of a request before the bank runs
// (lab/service/request.hpp, lab/service/http.hpp): POST /transfer's body and Idempotency-Key, POST
// /admin/settings' body, and the query parameters of every route.
//
//   make fuzz                       # builds with Clang (-fsanitize=fuzzer,address,undefined), runs 60 s
//   build/fuzz/fuzz/request_fuzzer build/fuzz/corpus -dict=fuzz/request.dict -max_total_time=600
//
// An input is three parts split at the first two newlines: a query string ("enabled=true&ms=5"),
// the Idempotency-Key headers (tab-separated; none when the line is empty), and the body. Each
// parser must keep request.hpp's guarantees; a broken one aborts with what it broke, which libFuzzer
// saves as a crash (as it does an escaped exception or a sanitizer report).
#include <httplib.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "bank/idempotency.hpp"
#include "service/http.hpp"
#include "service/request.hpp"

namespace {

using lab::service::json;

[[noreturn]] void broken(const char* what, const httplib::Response& res) {
  std::fprintf(stderr, "request_fuzzer: %s (status %d, body %.300s)\n", what, res.status, res.body.c_str());
  std::abort();
}

// A refusal is a 400 whose body is a JSON {"error": "<non-empty>"} (json::parse checks the UTF-8).
void expect_refusal(const httplib::Response& res) {
  if (res.status != 400) broken("a refusal is not a 400", res);
  json body;
  try {
    body = json::parse(res.body);
  } catch (const json::exception&) {
    broken("a refusal's body is not JSON", res);
  }
  if (!body.is_object() || !body.contains("error") || !body["error"].is_string() ||
      body["error"].get<std::string>().empty())
    broken("a refusal's body is not {\"error\": \"...\"}", res);
  if (res.body.size() > 2000) broken("a refusal echoes too much of the request", res);
}

void check_key(const std::string& key, const httplib::Response& res) {
  if (key.empty()) return;
  try {
    lab::bank::check_idempotency_key(key);
  } catch (const std::invalid_argument&) {
    broken("an accepted Idempotency-Key is not a valid one", res);
  }
}

void transfer(const httplib::Request& req) {
  httplib::Response res;
  auto t = lab::service::transfer_request(req, res);
  if (!t) return expect_refusal(res);
  if (!res.body.empty()) broken("an accepted transfer wrote a reply", res);
  if (t->amount <= 0 || t->amount > lab::service::kMaxAmount)
    broken("an accepted amount is out of range", res);
  if (t->from == t->to) broken("an accepted transfer is to itself", res);
  check_key(t->idempotency_key, res);
}

void settings(const httplib::Request& req) {
  httplib::Response res;
  auto s = lab::service::settings_request(req, res, lab::service::Settings{});
  if (!s) return expect_refusal(res);
  if (s->delay_ms < 0 || s->delay_ms > 60'000 || s->barrier_count < 1 || s->barrier_count > 60)
    broken("accepted settings are out of range", res);
}

void params(const httplib::Request& req) {
  for (const char* name : {"enabled", "clear", "ms", "count", "n", "limit", "name", "point", "from"}) {
    {
      httplib::Response res;
      if (!lab::service::bool_param(req, res, name, false)) expect_refusal(res);
    }
    {
      httplib::Response res;
      auto n = lab::service::int_param(req, res, name, 5, 1, 60'000);
      if (!n) expect_refusal(res);
      if (n && (*n < 1 || *n > 60'000)) broken("an accepted integer is out of range", res);
    }
    {
      httplib::Response res;
      if (!lab::service::text_param(req, res, name)) expect_refusal(res);
    }
  }
  httplib::Response res;
  try {
    check_key(lab::service::idempotency_key(req), res);
  } catch (const std::invalid_argument&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  const auto query_end = in.find('\n');
  const auto keys_end = query_end == std::string_view::npos ? query_end : in.find('\n', query_end + 1);
  httplib::Request req;
  httplib::detail::parse_query_text(std::string(in.substr(0, query_end)), req.params);
  if (query_end != std::string_view::npos) {
    const auto keys =
        in.substr(query_end + 1, keys_end == std::string_view::npos ? keys_end : keys_end - query_end - 1);
    for (std::size_t at = 0; !keys.empty() && at <= keys.size();) {
      const auto tab = std::min(keys.find('\t', at), keys.size());
      req.headers.emplace("Idempotency-Key", std::string(keys.substr(at, tab - at)));
      at = tab + 1;
    }
  }
  if (keys_end != std::string_view::npos) req.body = std::string(in.substr(keys_end + 1));
  transfer(req);
  settings(req);
  params(req);
  return 0;
}
