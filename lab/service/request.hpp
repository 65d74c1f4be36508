// lab/service/request.hpp — what the service reads out of a request before it touches the bank:
// POST /transfer's body and Idempotency-Key, POST /admin/settings' body. Each either parses or writes
// the 400 saying what was wrong; none reads a database, so the fuzzer (fuzz/request_fuzzer.cpp) can
// throw anything at them.
//
//   auto t = transfer_request(req, res);      // nullopt: a 400 is already written
//   if (!t) return;
//   bank.transfer(t->from, t->to, t->amount, strategy, t->idempotency_key);
//
// Guarantees, whatever the bytes: no exception but std::bad_alloc escapes; a refusal is a JSON
// {"error": "..."} with status 400; an accepted transfer has 0 < amount <= kMaxAmount, from != to and
// a key that is empty or passes bank::check_idempotency_key; echoed input is clipped (clip()).
#pragma once

#include <httplib.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "service/http.hpp"
#include "service/settings.hpp"

namespace lab::service {

inline constexpr std::int64_t kMaxAmount = 1'000'000'000'000;  // refuse "huge" amounts outright

struct TransferRequest {
  std::string from, to;
  std::int64_t amount = 0;
  std::string idempotency_key;  // empty: none
};

std::optional<TransferRequest> transfer_request(const httplib::Request& req, httplib::Response& res);

// The Idempotency-Key header's value: a Structured Field string ("…", as the draft writes it) or,
// leniently, the bare token clients commonly send. Empty when absent; throws std::invalid_argument
// naming a bad one, or more than one.
std::string idempotency_key(const httplib::Request& req);

// `current` with the body's changes (POST /admin/settings); nullopt and a 400 when any is invalid,
// so that a request changes all it names or nothing.
std::optional<Settings> settings_request(const httplib::Request& req, httplib::Response& res,
                                         Settings current);

// A JSON value for an error message: a scalar as JSON (clipped), an array or object by its type,
// never its (maybe enormous, maybe 100,000 levels deep) contents.
std::string describe(const json& value);

}  // namespace lab::service
