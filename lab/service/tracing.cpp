// Spans for the bank service. See tracing.hpp.
#include "service/tracing.hpp"

#include <httplib.h>

#include <algorithm>
#include <chrono>
#include <iostream>
#include <optional>
#include <random>
#include <stdexcept>

namespace lab::service {
namespace {

using json = nlohmann::json;

constexpr std::size_t kBatch = 512;
constexpr std::size_t kQueueLimit = 20'000;
constexpr auto kFlushEvery = std::chrono::milliseconds(500);
constexpr auto kShutdownFlush = std::chrono::seconds(3);

std::string random_hex(std::size_t digits) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(digits, '0');
  for (std::size_t i = 0; i < digits; i += 16) {
    std::uint64_t bits = rng();
    for (std::size_t j = i; j < std::min(digits, i + 16); ++j, bits >>= 4) out[j] = kHex[bits & 0xf];
  }
  if (out.find_first_not_of('0') == std::string::npos) out.back() = '1';  // all-zero ids are invalid
  return out;
}

bool lower_hex(std::string_view s, std::size_t digits) {
  return s.size() == digits &&
         std::all_of(s.begin(), s.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }) &&
         s.find_first_not_of('0') != std::string_view::npos;
}

// One attribute value in OTLP's JSON form (AnyValue); int64 travels as a string, as proto3 JSON says.
json any_value(const json& v) {
  if (v.is_boolean()) return {{"boolValue", v.get<bool>()}};
  if (v.is_number_integer()) return {{"intValue", std::to_string(v.get<std::int64_t>())}};
  if (v.is_number_float()) return {{"doubleValue", v.get<double>()}};
  if (v.is_array()) {
    json values = json::array();
    for (const auto& item : v) values.push_back(any_value(item));
    return {{"arrayValue", {{"values", values}}}};
  }
  return {{"stringValue", v.is_string() ? v.get<std::string>() : v.dump()}};
}

json attribute_list(const json& attributes) {
  json list = json::array();
  for (const auto& [key, value] : attributes.items())
    list.push_back({{"key", key}, {"value", any_value(value)}});
  return list;
}

}  // namespace

std::int64_t now_unix_nano() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Tracer::Tracer(TracerOptions options) : options_(std::move(options)) {
  if (options_.otlp_endpoint.empty()) return;
  const auto& url = options_.otlp_endpoint;
  auto scheme_end = url.find("://");
  if (scheme_end == std::string::npos ||
      (url.compare(0, scheme_end, "http") != 0 && url.compare(0, scheme_end, "https") != 0))
    throw std::invalid_argument("--otlp-endpoint must be an http:// or https:// URL, got '" + url + "'");
  auto path_start = url.find('/', scheme_end + 3);
  host_ = url.substr(0, path_start);
  path_ = path_start == std::string::npos ? "" : url.substr(path_start);
  if (path_.empty() || path_ == "/") path_ = "/v1/traces";
  if (host_.size() <= scheme_end + 3)
    throw std::invalid_argument("--otlp-endpoint has no host: '" + url + "'");
  exporter_ = std::thread([this] { export_loop(); });
}

Tracer::~Tracer() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (exporter_.joinable()) exporter_.join();
}

Span Tracer::start(std::string name, const std::string& traceparent) const {
  Span span;
  span.name = std::move(name);
  // W3C trace context: version-traceid-parentid-flags, e.g. 00-4bf9…4736-00f0…02b7-01
  if (traceparent.size() == 55 && traceparent[2] == '-' && traceparent[35] == '-' && traceparent[52] == '-' &&
      lower_hex(std::string_view(traceparent).substr(3, 32), 32) &&
      lower_hex(std::string_view(traceparent).substr(36, 16), 16)) {
    span.trace_id = traceparent.substr(3, 32);
    span.parent_span_id = traceparent.substr(36, 16);
  } else {
    span.trace_id = random_hex(32);
  }
  span.span_id = random_hex(16);
  span.start_unix_nano = now_unix_nano();
  return span;
}

void Tracer::finish(Span span) {
  if (span.end_unix_nano == 0) span.end_unix_nano = now_unix_nano();
  const bool race = span.attributes.value("race_condition.detected", false);
  {
    std::lock_guard lock(mu_);
    if (race) last_race_ = span;
    if (!exporter_.joinable()) {
      ring_.push_front(std::move(span));
    } else {
      ring_.push_front(span);
      if (queue_.size() >= kQueueLimit) {
        ++stats_.dropped;
      } else {
        queue_.push_back(std::move(span));
      }
    }
    if (ring_.size() > options_.ring_size) ring_.pop_back();
  }
  if (exporter_.joinable()) cv_.notify_one();
}

json Tracer::page_json(const Span& span) {
  json events = json::array();
  for (const auto& e : span.events)
    events.push_back({{"name", e.name}, {"t_ms", static_cast<double>(e.time_unix_nano) / 1e6}});
  return {{"trace_id", span.trace_id},
          {"span_id", span.span_id},
          {"name", span.name},
          {"start_ms", static_cast<double>(span.start_unix_nano) / 1e6},
          {"end_ms", static_cast<double>(span.end_unix_nano) / 1e6},
          {"duration_ms", static_cast<double>(span.end_unix_nano - span.start_unix_nano) / 1e6},
          {"attributes", span.attributes},
          {"events", events}};
}

json Tracer::recent(std::size_t limit) const {
  json list = json::array();
  std::lock_guard lock(mu_);
  for (std::size_t i = 0; i < ring_.size() && i < limit; ++i) list.push_back(page_json(ring_[i]));
  return list;
}

json Tracer::last_race() const {
  std::lock_guard lock(mu_);
  if (!last_race_) return nullptr;
  const Span& race = *last_race_;
  std::vector<const Span*> spans{&race};
  for (const auto& s : ring_)
    if (s.span_id != race.span_id && s.start_unix_nano <= race.end_unix_nano &&
        race.start_unix_nano <= s.end_unix_nano)
      spans.push_back(&s);
  std::sort(spans.begin(), spans.end(),
            [](const Span* a, const Span* b) { return a->start_unix_nano < b->start_unix_nano; });
  json list = json::array();
  for (const Span* s : spans) list.push_back(page_json(*s));
  return {{"race_span_id", race.span_id}, {"spans", list}};
}

Tracer::Stats Tracer::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

json Tracer::otlp_json(const std::vector<Span>& spans, const std::string& service_name) {
  json list = json::array();
  for (const auto& s : spans) {
    json events = json::array();
    for (const auto& e : s.events)
      events.push_back({{"timeUnixNano", std::to_string(e.time_unix_nano)}, {"name", e.name}});
    json span = {{"traceId", s.trace_id},
                 {"spanId", s.span_id},
                 {"name", s.name},
                 {"kind", 2},  // SPAN_KIND_SERVER
                 {"startTimeUnixNano", std::to_string(s.start_unix_nano)},
                 {"endTimeUnixNano", std::to_string(s.end_unix_nano)},
                 {"attributes", attribute_list(s.attributes)},
                 {"events", events},
                 {"status", {{"code", s.error ? 2 : 1}}}};  // STATUS_CODE_ERROR : STATUS_CODE_OK
    if (!s.parent_span_id.empty()) span["parentSpanId"] = s.parent_span_id;
    list.push_back(std::move(span));
  }
  json resource = {{"attributes", attribute_list({{"service.name", service_name}})}};
  json scope = {{"name", "racelab.lab.service"}, {"version", "0.1.0"}};
  return {
      {"resourceSpans", json::array({{{"resource", resource},
                                      {"scopeSpans", json::array({{{"scope", scope}, {"spans", list}}})}}})}};
}

bool Tracer::post(const std::vector<Span>& batch) {
  httplib::Client client(host_);
  client.set_connection_timeout(std::chrono::seconds(1));
  client.set_read_timeout(std::chrono::seconds(2));
  client.set_write_timeout(std::chrono::seconds(2));
  auto res = client.Post(path_, otlp_json(batch, options_.service_name).dump(), "application/json");
  return res && res->status >= 200 && res->status < 300;
}

void Tracer::export_loop() {
  bool warned = false;
  std::optional<std::chrono::steady_clock::time_point> give_up;  // set when stopping: flush is bounded
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });  // idle until work, or the destructor
    if (!stopping_) cv_.wait_for(lock, kFlushEvery, [&] { return stopping_ || queue_.size() >= kBatch; });
    if (queue_.empty()) {
      if (stopping_) return;
      continue;
    }
    if (stopping_ && !give_up) give_up = std::chrono::steady_clock::now() + kShutdownFlush;
    if (give_up && std::chrono::steady_clock::now() >= *give_up) {
      stats_.dropped += queue_.size();  // a slow or absent collector must not hold the shutdown
      queue_.clear();
      return;
    }
    std::vector<Span> batch;
    while (!queue_.empty() && batch.size() < kBatch) {
      batch.push_back(std::move(queue_.front()));
      queue_.pop_front();
    }
    lock.unlock();
    const bool ok = post(batch);
    if (!ok && !warned) {
      std::cerr << "racelab serve: could not export spans to " << host_ << path_
                << " (is the collector up?); counting failures in racelab_span_exports_failed_total\n";
      warned = true;
    }
    lock.lock();
    if (ok) {
      stats_.exported += batch.size();
    } else {
      ++stats_.failed_exports;
      stats_.dropped += batch.size();
      if (stopping_) give_up = std::chrono::steady_clock::now();  // no second try on the way out
    }
  }
}

}  // namespace lab::service
