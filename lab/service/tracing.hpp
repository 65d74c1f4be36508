// lab/service/tracing.hpp — a span per transfer: kept in a ring for the page, and exported as
// OTLP/HTTP JSON (OpenTelemetry's wire format) to a collector when an endpoint is given.
//
//   Tracer tracer({.otlp_endpoint = "http://127.0.0.1:4318"});   // POSTs to …/v1/traces
//   Span span = tracer.start("transfer", request_traceparent);
//   span.attributes["racelab.strategy"] = "unsafe";
//   span.events.push_back({"transfer.after_read", now_unix_nano()});
//   tracer.finish(std::move(span));
//
// A span's attributes are a JSON object of scalars (and arrays of strings); the exporter turns them
// into OTLP's typed attribute list. Export runs on a thread of its own in batches (up to 512 spans,
// or every 500 ms); a full queue drops spans and counts them rather than slowing transfers.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace lab::service {

std::int64_t now_unix_nano();

struct SpanEvent {
  std::string name;
  std::int64_t time_unix_nano = 0;
};

struct Span {
  std::string trace_id;        // 32 hex digits
  std::string span_id;         // 16 hex digits
  std::string parent_span_id;  // from a W3C traceparent header, or empty
  std::string name;
  std::int64_t start_unix_nano = 0;
  std::int64_t end_unix_nano = 0;
  nlohmann::json attributes = nlohmann::json::object();
  std::vector<SpanEvent> events;
  bool error = false;  // OTLP status ERROR (a transfer that could not be decided), else OK
};

struct TracerOptions {
  std::string otlp_endpoint{};  // http://host:port[/path]; "/v1/traces" is added unless given
  std::string service_name = "racelab-bank";
  std::size_t ring_size = 512;
};

class Tracer {
 public:
  explicit Tracer(TracerOptions options);
  ~Tracer();  // flushes what is queued for at most ~3 s (one failed export ends it), drops the rest
  Tracer(const Tracer&) = delete;
  Tracer& operator=(const Tracer&) = delete;

  // A new span; joins the caller's trace when `traceparent` is a valid W3C header value.
  Span start(std::string name, const std::string& traceparent = {}) const;
  void finish(Span span);

  nlohmann::json recent(std::size_t limit) const;  // newest first, in the page's JSON form
  // The last span with race_condition.detected, and every span of the ring that overlapped it in
  // time (the other side of the race), oldest first; null when no race has been seen.
  nlohmann::json last_race() const;

  struct Stats {
    std::uint64_t exported = 0, dropped = 0, failed_exports = 0;
  };
  Stats stats() const;

  // OTLP/HTTP JSON for a batch: {"resourceSpans":[{"resource":…,"scopeSpans":[{"scope":…,"spans":[…]}]}]}
  static nlohmann::json otlp_json(const std::vector<Span>& spans, const std::string& service_name);
  static nlohmann::json page_json(const Span& span);

 private:
  void export_loop();
  bool post(const std::vector<Span>& batch);

  TracerOptions options_;
  std::string host_, path_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Span> ring_;
  std::optional<Span> last_race_;
  std::deque<Span> queue_;
  bool stopping_ = false;
  Stats stats_;
  std::thread exporter_;
};

}  // namespace lab::service
