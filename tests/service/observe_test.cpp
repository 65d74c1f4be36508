// What the service shows of itself: spans (the ring, the last race, OTLP export to a collector),
// the page's state and fire button, and the OpenAPI document matching the routes it serves.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "scrape.hpp"
#include "server_process.hpp"

using json = nlohmann::json;

namespace {

const std::string kCli = RACELAB_CLI_PATH;

std::vector<std::string> db_args(const std::string& name) {
  auto path = std::filesystem::temp_directory_path() /
              ("racelab_obs_" + name + "_" + std::to_string(::getpid()) + ".db");
  for (auto suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path.string() + suffix);
  return {"--db", "sqlite:" + path.string()};
}

std::vector<std::string> operator+(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

json get(httplib::Client& c, const std::string& path, int expect = 200) {
  auto r = c.Get(path.c_str());
  if (!r) throw std::runtime_error("GET " + path + " failed");
  EXPECT_EQ(r->status, expect) << path << ": " << r->body;
  return json::parse(r->body);
}

json post(httplib::Client& c, const std::string& path, int expect = 200, const std::string& body = "") {
  auto r = c.Post(path.c_str(), body, "application/json");
  if (!r) throw std::runtime_error("POST " + path + " failed");
  EXPECT_EQ(r->status, expect) << path << ": " << r->body;
  return r->body.empty() ? json() : json::parse(r->body);
}

// A stand-in OpenTelemetry collector: takes OTLP/HTTP JSON on /v1/traces and keeps the spans.
class Collector {
 public:
  Collector() {
    server_.Post("/v1/traces", [this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard lock(mu_);
      requests_.push_back(json::parse(req.body));
      res.set_content("{}", "application/json");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
  }
  ~Collector() {
    server_.stop();
    thread_.join();
  }
  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }
  // Every span received so far, with its resource's attributes beside it.
  std::vector<std::pair<json, json>> spans() {
    std::lock_guard lock(mu_);
    std::vector<std::pair<json, json>> out;
    for (const auto& r : requests_)
      for (const auto& rs : r.at("resourceSpans"))
        for (const auto& ss : rs.at("scopeSpans"))
          for (const auto& s : ss.at("spans")) out.emplace_back(rs.at("resource"), s);
    return out;
  }
  std::vector<std::pair<json, json>> wait_for(std::size_t n) {
    for (int i = 0; i < 100; ++i) {
      auto s = spans();
      if (s.size() >= n) return s;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return spans();
  }

 private:
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  std::mutex mu_;
  std::vector<json> requests_;
};

std::optional<json> attribute(const json& span, const std::string& key) {
  for (const auto& a : span.at("attributes"))
    if (a.at("key") == key) return a.at("value");
  return std::nullopt;
}

bool is_hex(const std::string& s, std::size_t n) {
  return s.size() == n && s.find_first_not_of("0123456789abcdef") == std::string::npos;
}

}  // namespace

TEST(Traces, EveryTransferIsASpanExportedAsOtlpJson) {
  Collector collector;
  ServerProcess server(kCli,
                       db_args("otlp") + std::vector<std::string>{"--otlp-endpoint", collector.endpoint()});
  auto c = server.client();
  post(c, "/admin/barrier?enabled=true&count=2");
  auto fired = post(c, "/admin/fire?n=2&amount=800");
  ASSERT_EQ(fired["double_spends"], 1) << fired.dump();
  const std::string trace = "4bf92f3577b34da6a3ce929d0e0e4736", parent = "00f067aa0ba902b7";
  httplib::Headers headers{{"traceparent", "00-" + trace + "-" + parent + "-01"}};
  post(c, "/admin/barrier?enabled=false");
  auto r = c.Post("/transfer", headers, R"({"from_account":"bob","to_account":"charlie","amount":5})",
                  "application/json");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;

  auto spans = collector.wait_for(3);
  ASSERT_EQ(spans.size(), 3u);
  int races = 0, joined = 0;
  for (const auto& [resource, span] : spans) {
    EXPECT_EQ(span.at("name"), "transfer");
    EXPECT_EQ(span.at("kind"), 2);  // SERVER
    EXPECT_TRUE(is_hex(span.at("traceId"), 32)) << span.dump();
    EXPECT_TRUE(is_hex(span.at("spanId"), 16)) << span.dump();
    EXPECT_LE(std::stoll(span.at("startTimeUnixNano").get<std::string>()),
              std::stoll(span.at("endTimeUnixNano").get<std::string>()));
    EXPECT_EQ(resource.at("attributes").at(0).at("key"), "service.name");
    EXPECT_EQ(resource.at("attributes").at(0).at("value").at("stringValue"), "racelab-bank");
    EXPECT_EQ(attribute(span, "racelab.strategy")->at("stringValue"), "unsafe");
    ASSERT_TRUE(attribute(span, "transfer.amount")) << span.dump();
    EXPECT_TRUE(attribute(span, "transfer.amount")->at("intValue").is_string());  // int64 as a string
    bool passed_window = false;
    for (const auto& e : span.at("events")) passed_window |= e.at("name") == "transfer.after_read";
    EXPECT_TRUE(passed_window) << "the span's events are the points it passed: " << span.dump();
    const auto race = attribute(span, "race_condition.detected");
    ASSERT_TRUE(race) << span.dump();
    races += race->at("boolValue").get<bool>() ? 1 : 0;
    if (span.at("traceId") == trace) {
      ++joined;
      EXPECT_EQ(span.at("parentSpanId"), parent);
    }
  }
  EXPECT_EQ(races, 1) << "one of the two barrier-held transfers wrote over the other";
  EXPECT_EQ(joined, 1) << "a traceparent header joins the caller's trace";
  EXPECT_EQ(metric(c, "racelab_spans_exported_total"), 3);
}

TEST(Traces, AnUnreachableCollectorIsCountedNeverFatal) {
  ServerProcess server(
      kCli, db_args("otlp_down") + std::vector<std::string>{"--otlp-endpoint", "http://127.0.0.1:1"});
  auto c = server.client();
  post(c, "/transfer", 200, R"({"from_account":"alice","to_account":"bob","amount":10})");
  for (int i = 0; i < 100 && metric(c, "racelab_span_exports_failed_total") < 1; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_GE(metric(c, "racelab_span_exports_failed_total"), 1);
  EXPECT_EQ(metric(c, "racelab_spans_dropped_total"), 1);
  EXPECT_EQ(get(c, "/accounts/bob")["balance"], 510);
}

TEST(Traces, TheLastRaceHoldsBothSidesOfTheDoubleSpend) {
  ServerProcess server(kCli, db_args("last_race"));
  auto c = server.client();
  EXPECT_TRUE(get(c, "/traces/last-race")["last_race"].is_null());
  post(c, "/admin/barrier?enabled=true&count=2");
  post(c, "/admin/fire?n=2&amount=800");
  auto race = get(c, "/traces/last-race")["last_race"];
  ASSERT_EQ(race["spans"].size(), 2u) << race.dump();
  int flagged = 0;
  for (const auto& span : race["spans"]) {
    auto points = span["attributes"]["racelab.points"];
    EXPECT_NE(std::find(points.begin(), points.end(), "transfer.after_read"), points.end()) << span.dump();
    if (span["span_id"] == race["race_span_id"]) {
      ++flagged;
      EXPECT_TRUE(span["attributes"]["race_condition.detected"].get<bool>());
      EXPECT_EQ(span["attributes"]["transfer.from_balance_after"], -600);
    }
  }
  EXPECT_EQ(flagged, 1);
  EXPECT_EQ(get(c, "/traces?limit=1")["spans"].size(), 1u);
  EXPECT_EQ(get(c, "/traces")["spans"].size(), 2u);
  EXPECT_TRUE(get(c, "/traces?limit=0", 400)["error"].get<std::string>().find("'limit'") !=
              std::string::npos);
}

TEST(Fire, StartsTransfersAtOnceAndRefusesBadParametersChangingNothing) {
  ServerProcess server(kCli, db_args("fire"));
  auto c = server.client();
  auto before = get(c, "/accounts");
  EXPECT_NE(post(c, "/admin/fire?n=0", 400)["error"].get<std::string>().find("'n'"), std::string::npos);
  EXPECT_NE(post(c, "/admin/fire?n=65", 400)["error"].get<std::string>().find("'n'"), std::string::npos);
  EXPECT_NE(post(c, "/admin/fire?amount=-3", 400)["error"].get<std::string>().find("'amount'"),
            std::string::npos);
  EXPECT_NE(post(c, "/admin/fire?from=zed", 404)["error"].get<std::string>().find("'zed'"),
            std::string::npos);
  EXPECT_NE(post(c, "/admin/fire?from=bob&to=bob", 400)["error"].get<std::string>().find("itself"),
            std::string::npos);
  EXPECT_EQ(get(c, "/accounts"), before);
  EXPECT_EQ(get(c, "/transactions")["transactions"].size(), 0u);
  // Pessimistic holds even when the transfers are started together behind a barrier.
  post(c, "/admin/strategy?name=pessimistic");
  post(c, "/admin/barrier?enabled=true&count=4");
  auto fired = post(c, "/admin/fire?n=4&amount=300");
  EXPECT_EQ(fired["summary"]["success"], 3) << fired.dump();
  EXPECT_EQ(fired["summary"]["failed_insufficient_funds"], 1) << fired.dump();
  EXPECT_EQ(fired["double_spends"], 0);
  EXPECT_EQ(get(c, "/accounts/alice")["balance"], 100);
}

TEST(State, ShowsWhatThePageNeeds) {
  ServerProcess server(kCli, db_args("state"));
  auto c = server.client();
  post(c, "/transfer", 200, R"({"from_account":"alice","to_account":"bob","amount":10})");
  post(c, "/transfer", 409, R"({"from_account":"charlie","to_account":"bob","amount":1000})");
  auto s = get(c, "/api/state");
  EXPECT_EQ(s["accounts"].size(), 3u);
  EXPECT_EQ(s["money_total"], 1700);
  EXPECT_EQ(s["money_expected"], 1700);
  EXPECT_EQ(s["transfers"]["success"], 1);
  EXPECT_EQ(s["transfers"]["failed_insufficient_funds"], 1);
  EXPECT_EQ(s["latency_ms"]["samples"], 2);
  EXPECT_GT(s["latency_ms"]["p99"].get<double>(), 0.0);
  EXPECT_GE(s["latency_ms"]["p99"].get<double>(), s["latency_ms"]["p50"].get<double>());
  EXPECT_EQ(s["settings"]["strategy"], "unsafe");
  EXPECT_EQ(s["strategies"].size(), 8u);
  EXPECT_EQ(s["database"], "sqlite");
  auto page = c.Get("/");
  ASSERT_TRUE(page);
  EXPECT_EQ(page->get_header_value("Content-Type"), "text/html; charset=utf-8");
  for (const char* id :
       {"balance-", "race-hits", "double-spends", "fire-button", "race-timeline", "strategy"})
    EXPECT_NE(page->body.find(id), std::string::npos) << id;
}

TEST(Docs, EveryDocumentedOperationIsServed) {
  ServerProcess server(kCli, db_args("docs"));
  auto c = server.client();
  auto doc = get(c, "/openapi.json");
  EXPECT_EQ(doc["openapi"], "3.0.3");
  auto page = c.Get("/docs");
  ASSERT_TRUE(page);
  EXPECT_NE(page->body.find("/openapi.json"), std::string::npos);
  std::set<std::string> documented;
  for (const auto& [path, item] : doc["paths"].items()) {
    for (const auto& [method, op] : item.items()) {
      documented.insert(method + " " + path);
      EXPECT_TRUE(op.contains("summary") && op.contains("responses")) << method << " " << path;
      std::string url = path;
      if (auto at = url.find("{id}"); at != std::string::npos) url.replace(at, 4, "alice");
      // POST: values every documented POST refuses (or, for /reset, ignores): nothing changes but a reset.
      auto r = method == "get" ? c.Get(url.c_str())
                               : c.Post((url + "?enabled=maybe&ms=x&count=x&name=&n=0").c_str(),
                                        R"({"bogus":true})", "application/json");
      ASSERT_TRUE(r) << method << " " << path;
      EXPECT_TRUE(r->status == 200 || r->status == 400)
          << method << " " << path << " -> " << r->status << " " << r->body;
      EXPECT_EQ(r->body.find("no route"), std::string::npos) << method << " " << path;
    }
  }
  for (const char* op : {"post /transfer", "post /admin/fire", "get /traces/last-race", "get /metrics",
                         "get /", "get /docs", "post /admin/settings", "get /admin/settings"})
    EXPECT_TRUE(documented.count(op)) << op << " is served but not documented";
  EXPECT_EQ(c.Get("/nowhere")->status, 404);
}
