// lab/service/http.hpp — the service's HTTP vocabulary: JSON replies and errors, and request
// parameters that either parse or answer 400 with a sentence saying what was wrong. A parameter
// given twice is refused (which copy would count is a guess); bodies are request.hpp's.
//
//   auto limit = int_param(req, res, "limit", 20, 1, 1000);   // nullopt: a 400 is already written
//   if (!limit) return;
//   reply(res, 200, {{"limit", *limit}});
#pragma once

#include <httplib.h>

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "bank/ledger.hpp"

namespace lab::service {

using json = nlohmann::json;

// The body as JSON. Strings that are not UTF-8 (a client's bytes echoed in a message) are sent with
// U+FFFD in place of the bad bytes: a reply never throws for them.
void reply(httplib::Response& res, int status, const json& body);
void error(httplib::Response& res, int status, const std::string& message);  // {"error": message}
// `s` for a message: at most `max` bytes of it, and how long it was when longer.
std::string clip(std::string_view s, std::size_t max = 64);

// The request body as a JSON object; nullopt (and a 400 already written) otherwise.
std::optional<json> json_object(const httplib::Request& req, httplib::Response& res);
// A query parameter; nullopt (and a 400 already written) when it is malformed or out of range.
std::optional<bool> bool_param(const httplib::Request& req, httplib::Response& res, const char* name,
                               bool fallback);
std::optional<int> int_param(const httplib::Request& req, httplib::Response& res, const char* name,
                             int fallback, int lo, int hi);
std::optional<std::string> text_param(const httplib::Request& req, httplib::Response& res, const char* name,
                                      const std::string& fallback = {});

// An audit as GET /audit answers it and `racelab audit --json` prints it (defined beside GET /audit,
// in transfer_routes.cpp).
json audit_json(const bank::AuditReport& audit);

}  // namespace lab::service
