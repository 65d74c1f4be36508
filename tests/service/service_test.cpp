// Lab 21's exercises, automated against a running `racelab serve`, plus every bad input and two
// service instances on one PostgreSQL (and one MariaDB) database.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "../lab/db_env.hpp"
#include "bank/sql_bank.hpp"
#include "common/db.hpp"
#include "scrape.hpp"
#include "server_process.hpp"

using json = nlohmann::json;

namespace {

std::string temp_db(const std::string& name) {
  auto path = std::filesystem::temp_directory_path() /
              ("racelab_svc_" + name + "_" + std::to_string(::getpid()) + ".db");
  for (auto suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path.string() + suffix);
  return "sqlite:" + path.string();
}

json get(httplib::Client& c, const std::string& path) {
  auto r = c.Get(path.c_str());
  if (!r) throw std::runtime_error("GET " + path + " failed");
  return json::parse(r->body);
}

int post(httplib::Client& c, const std::string& path, const std::string& body = "", json* out = nullptr) {
  auto r = c.Post(path.c_str(), body, "application/json");
  if (!r) throw std::runtime_error("POST " + path + " failed");
  if (out != nullptr) *out = r->body.empty() ? json() : json::parse(r->body);
  return r->status;
}

std::int64_t balance(httplib::Client& c, const std::string& id) {
  return get(c, "/accounts/" + id)["balance"];
}

std::string transfer_body(const std::string& from, const std::string& to, std::int64_t amount) {
  return json{{"from_account", from}, {"to_account", to}, {"amount", amount}}.dump();
}

struct Pair {
  int status_a = 0, status_b = 0;
  std::int64_t alice = 0;
};

// The lab's exercise: alice -> bob 800 and alice -> charlie 800, sent at once, after a reset.
Pair race_two(const ServerProcess& server) {
  auto c = server.client();
  EXPECT_EQ(post(c, "/reset"), 200);
  Pair p;
  std::thread a([&] {
    auto ca = server.client();
    p.status_a = post(ca, "/transfer", transfer_body("alice", "bob", 800));
  });
  std::thread b([&] {
    auto cb = server.client();
    p.status_b = post(cb, "/transfer", transfer_body("alice", "charlie", 800));
  });
  a.join();
  b.join();
  p.alice = balance(c, "alice");
  return p;
}

const std::string kCli = RACELAB_CLI_PATH;

}  // namespace

TEST(Lab21, HealthAccountsAndReset) {
  ServerProcess server(kCli, {"--db", temp_db("basic")});
  auto c = server.client();
  EXPECT_EQ(get(c, "/health"), (json{{"status", "ok"}, {"service", "bank-api"}}));
  json reset;
  EXPECT_EQ(post(c, "/reset", "", &reset), 200);
  EXPECT_EQ(reset["status"], "reset");
  EXPECT_EQ(get(c, "/accounts")["accounts"], (json::array({{{"id", "alice"}, {"balance", 1000}},
                                                           {{"id", "bob"}, {"balance", 500}},
                                                           {{"id", "charlie"}, {"balance", 200}}})));
  json record;
  EXPECT_EQ(post(c, "/transfer", transfer_body("alice", "bob", 100), &record), 200);
  EXPECT_EQ(record["status"], "success");
  EXPECT_EQ(record["from_balance_before"], 1000);
  EXPECT_EQ(record["from_balance_after"], 900);
  EXPECT_EQ(record["to_balance_after"], 600);
  EXPECT_TRUE(record.contains("id") && record.contains("timestamp") && record.contains("duration_ms"));
  EXPECT_EQ(get(c, "/transactions?limit=20")["transactions"].size(), 1u);
  // Insufficient funds: 409 with the record.
  EXPECT_EQ(post(c, "/transfer", transfer_body("charlie", "bob", 500), &record), 409);
  EXPECT_EQ(record["status"], "failed_insufficient_funds");
}

// Exercise 2: a 200 ms delay at the window: the double-spend usually happens (counted, 20 tries).
TEST(Lab21, DelayUsuallyDoubleSpends) {
  ServerProcess server(kCli, {"--db", temp_db("delay")});
  auto c = server.client();
  ASSERT_EQ(post(c, "/admin/delay?enabled=true&ms=200"), 200);
  int negative = 0;
  for (int i = 0; i < 20; ++i) negative += race_two(server).alice == -600;
  std::cout << "delay 200 ms: double-spend in " << negative << " of 20\n";
  EXPECT_GE(negative, 15);
  EXPECT_GT(metric(c, "double_spend_detected_total"), 0);
}

// Exercise 3, fixed: the barrier alone (no delay) double-spends every time.
TEST(Lab21, BarrierAloneAlwaysDoubleSpends) {
  ServerProcess server(kCli, {"--db", temp_db("barrier")});
  auto c = server.client();
  ASSERT_EQ(post(c, "/admin/barrier?enabled=true&count=2"), 200);
  for (int i = 0; i < 20; ++i) {
    auto p = race_two(server);
    ASSERT_EQ(p.alice, -600) << "run " << i;
    ASSERT_EQ(p.status_a, 200);
    ASSERT_EQ(p.status_b, 200);
  }
  EXPECT_EQ(metric(c, "double_spend_detected_total"), 20);
  EXPECT_GE(metric(c, "race_condition_hits_total"), 20);
  EXPECT_EQ(metric(c, "racelab_barrier_timeouts_total"), 0);
}

// Exercise 5: safe mode with the barrier and the delay still on: one success, one 409, alice 200,
// in 20 of 20 — and promptly: the barrier never times out.
TEST(Lab21, SafeModeHoldsPromptly) {
  ServerProcess server(kCli, {"--db", temp_db("safe")});
  auto c = server.client();
  ASSERT_EQ(post(c, "/admin/barrier?enabled=true&count=2"), 200);
  ASSERT_EQ(post(c, "/admin/delay?enabled=true&ms=50"), 200);
  json settings;
  ASSERT_EQ(post(c, "/admin/transactions?enabled=true", "", &settings), 200);
  EXPECT_EQ(settings["use_transactions"], true);
  EXPECT_EQ(settings["strategy"], "mutex");
  for (int i = 0; i < 20; ++i) {
    auto p = race_two(server);
    ASSERT_EQ(p.alice, 200) << "run " << i;
    ASSERT_EQ((p.status_a == 200) + (p.status_b == 200), 1);
    ASSERT_EQ((p.status_a == 409) + (p.status_b == 409), 1);
  }
  EXPECT_EQ(metric(c, "racelab_barrier_timeouts_total"), 0);
  EXPECT_EQ(metric(c, "double_spend_detected_total"), 0);
}

// Every bad input: a 4xx JSON error naming the problem, and no balance changes.
TEST(Service, BadInputIsRefusedAndChangesNothing) {
  ServerProcess server(kCli, {"--db", temp_db("bad")});
  auto c = server.client();
  post(c, "/reset");
  auto before = get(c, "/accounts");
  struct Case {
    std::string path, body;
    int status;
    std::string names;
  };
  std::vector<Case> cases{
      {"/transfer", "{not json", 400, "malformed JSON"},
      {"/transfer", "[1,2]", 400, "JSON object"},
      {"/transfer", R"({"to_account":"bob","amount":5})", 400, "missing field 'from_account'"},
      {"/transfer", R"({"from_account":"alice","to_account":"bob"})", 400, "missing field 'amount'"},
      {"/transfer", R"({"from_account":"alice","to_account":"bob","amount":"5"})", 400,
       "'amount' must be a number"},
      {"/transfer", R"({"from_account":7,"to_account":"bob","amount":5})", 400, "must be strings"},
      {"/transfer", transfer_body("alice", "bob", 0), 400, "must be positive"},
      {"/transfer", transfer_body("alice", "bob", -5), 400, "must be positive"},
      {"/transfer", R"({"from_account":"alice","to_account":"bob","amount":1.5})", 400, "whole number"},
      {"/transfer", R"({"from_account":"alice","to_account":"bob","amount":1e30})", 400, "too large"},
      {"/transfer", R"({"from_account":"alice","to_account":"bob","amount":18446744073709551615})", 400,
       "too large"},
      {"/transfer", transfer_body("alice", "alice", 5), 400, "to itself"},
      {"/transfer", transfer_body("mallory", "bob", 5), 404, "unknown account 'mallory'"},
      {"/transfer", transfer_body("alice", "mallory", 5), 404, "unknown account 'mallory'"},
      {"/admin/delay?enabled=maybe", "", 400, "'enabled' must be true or false"},
      {"/admin/delay?enabled=true&ms=-1", "", 400, "'ms' must be an integer"},
      {"/admin/barrier?enabled=true&count=0", "", 400, "'count' must be an integer"},
      {"/admin/strategy?name=yolo", "", 400, "unknown strategy 'yolo'"},
      {"/admin/settings", R"({"delay_ms":"fast"})", 400, "'delay_ms' must be an integer"},
      {"/admin/settings", R"({"warp":true})", 400, "unknown setting 'warp'"},
  };
  for (const auto& k : cases) {
    json out;
    EXPECT_EQ(post(c, k.path, k.body, &out), k.status) << k.path << " " << k.body;
    EXPECT_NE(out.value("error", "").find(k.names), std::string::npos) << k.body << " -> " << out.dump();
  }
  EXPECT_EQ(get(c, "/accounts"), before);
  auto r = c.Get("/accounts/mallory");
  EXPECT_EQ(r->status, 404);
  EXPECT_EQ(c.Get("/transactions?limit=zero")->status, 400);
  EXPECT_EQ(c.Get("/nowhere")->status, 404);
}

TEST(Service, AdminNeedsTheTokenWhenOneIsSet) {
  ServerProcess server(kCli, {"--db", temp_db("token"), "--admin-token", "s3cret"});
  auto c = server.client();
  EXPECT_EQ(post(c, "/admin/delay?enabled=true&ms=10"), 401);
  httplib::Headers auth{{"Authorization", "Bearer s3cret"}};
  auto r = c.Post("/admin/delay?enabled=true&ms=10", auth, "", "application/json");
  EXPECT_EQ(r->status, 200);
}

TEST(Service, LabCompatAnswers200ForInsufficientFunds) {
  ServerProcess server(kCli, {"--db", temp_db("compat"), "--lab-compat"});
  auto c = server.client();
  post(c, "/reset");
  json record;
  EXPECT_EQ(post(c, "/transfer", transfer_body("charlie", "bob", 500), &record), 200);
  EXPECT_EQ(record["status"], "failed_insufficient_funds");
}

// Two service instances on one database: the in-process `mutex` double-spends across them;
// `pessimistic` and `atomic` never do. A 300 ms delay widens every window.
void two_instances(const std::string& url) {
  ServerProcess one(kCli, {"--db", url}), two(kCli, {"--db", url});
  auto c1 = one.client(), c2 = two.client();
  for (const char* strategy : {"mutex", "pessimistic", "atomic"}) {
    for (auto* c : {&c1, &c2}) {
      ASSERT_EQ(post(*c, std::string("/admin/strategy?name=") + strategy), 200);
      ASSERT_EQ(post(*c, "/admin/delay?enabled=true&ms=300"), 200);
    }
    ASSERT_EQ(post(c1, "/reset"), 200);
    int sa = 0, sb = 0;
    std::thread a([&] {
      auto c = one.client();
      sa = post(c, "/transfer", transfer_body("alice", "bob", 800));
    });
    std::thread b([&] {
      auto c = two.client();
      sb = post(c, "/transfer", transfer_body("alice", "charlie", 800));
    });
    a.join();
    b.join();
    auto alice = balance(c1, "alice");
    std::cout << strategy << " across two instances: alice " << alice << " (" << sa << ", " << sb << ")\n";
    if (std::string(strategy) == "mutex") {
      EXPECT_EQ(alice, -600);
    } else {
      EXPECT_EQ(alice, 200);
    }
  }
}

TEST(TwoInstances, OnlyDatabaseStrategiesHoldAcrossThem) {
  const char* dir = std::getenv("RACELAB_PG_DIR");
  ASSERT_NE(dir, nullptr) << "run with ctest (it starts PostgreSQL)";
  std::string conninfo;
  std::getline(std::ifstream(std::filesystem::path(dir) / "conninfo"), conninfo);
  ASSERT_FALSE(conninfo.empty());
  two_instances(conninfo);
}

// The same on MariaDB (`racelab serve --db mariadb://…`), and the service reports its database.
TEST(TwoInstances, OnlyDatabaseStrategiesHoldAcrossThemOnMariaDB) {
  if (!lab::has_mariadb()) GTEST_SKIP() << "this racelab was built without MariaDB";
  const auto url = db_env::mariadb("service_two");
  {
    ServerProcess server(kCli, {"--db", url});
    auto c = server.client();
    EXPECT_EQ(get(c, "/api/state")["database"], "mariadb");
  }
  two_instances(url);
}

// The ledger is the database's, not the process's: transfers answered by one `racelab serve` are
// listed by the next one on the same file, /audit explains every balance from them, and /reset
// empties it. On SQLite, PostgreSQL and MariaDB.
TEST(Ledger, TransactionsSurviveARestartAndTheAuditExplainsThem) {
  std::vector<std::string> urls{temp_db("ledger"), std::string()};  // "": PostgreSQL
  if (lab::has_mariadb()) urls.push_back(db_env::mariadb("service_ledger"));
  for (const std::string& url : urls) {
    std::vector<std::string> args{"--db", url};
    if (url.empty()) {
      std::ifstream in(std::string(std::getenv("RACELAB_PG_DIR")) + "/conninfo");
      std::string base;
      ASSERT_TRUE(std::getline(in, base)) << "no PostgreSQL cluster";
      lab::open_db(base)->script("CREATE SCHEMA IF NOT EXISTS service_ledger");  // its own tables
      args = {"--db", base + " options='-csearch_path=service_ledger'"};
    }
    std::string first_id;
    {
      ServerProcess server(kCli, args);
      auto c = server.client();
      ASSERT_EQ(post(c, "/reset"), 200);
      json record;
      ASSERT_EQ(post(c, "/transfer", transfer_body("alice", "bob", 100), &record), 200);
      first_id = record["id"];
      ASSERT_EQ(post(c, "/transfer", transfer_body("charlie", "bob", 900), &record), 409);
    }
    ServerProcess server(kCli, args);
    auto c = server.client();
    auto list = get(c, "/transactions")["transactions"];
    ASSERT_EQ(list.size(), 2u) << list.dump();
    EXPECT_EQ(list[1]["id"], first_id);
    EXPECT_EQ(list[1]["status"], "success");
    EXPECT_EQ(list[1]["from_balance_after"], 900);
    EXPECT_EQ(list[0]["status"], "failed_insufficient_funds");
    auto audit = get(c, "/audit");
    EXPECT_EQ(audit["clean"], true) << audit.dump();
    EXPECT_EQ(audit["money_total"], 1700);
    EXPECT_EQ(audit["ledger_successes"], 1);
    ASSERT_EQ(post(c, "/reset"), 200);
    EXPECT_EQ(get(c, "/transactions")["transactions"].size(), 0u);
    EXPECT_EQ(get(c, "/audit")["ledger_rows"], 0);
  }
}

// `constraint` keeps its CHECK in the schema, so switching to it makes a new bank; a service
// restarted on a bank already made for it, and switched back to it, keeps the books.
TEST(Ledger, ARestartedServiceSwitchedBackToConstraintKeepsItsBooks) {
  const auto db = temp_db("constraint");
  {
    ServerProcess server(kCli, {"--db", db});
    auto c = server.client();
    ASSERT_EQ(post(c, "/admin/strategy?name=constraint"), 200);
    ASSERT_EQ(post(c, "/transfer", transfer_body("alice", "bob", 100)), 200);
  }
  ServerProcess server(kCli, {"--db", db});
  auto c = server.client();
  ASSERT_EQ(post(c, "/admin/strategy?name=constraint"), 200);
  EXPECT_EQ(get(c, "/transactions")["transactions"].size(), 1u);
  EXPECT_EQ(balance(c, "alice"), 900);
  EXPECT_TRUE(lab::bank::SqlBank::has_balance_check(*lab::open_db(db)));
  ASSERT_EQ(post(c, "/admin/strategy?name=atomic"), 200);  // away from it: a new bank, without the CHECK
  EXPECT_EQ(get(c, "/transactions")["transactions"].size(), 0u);
  EXPECT_FALSE(lab::bank::SqlBank::has_balance_check(*lab::open_db(db)));
}

namespace {

httplib::Result post_keyed(httplib::Client& c, const std::string& key, const std::string& body) {
  return c.Post("/transfer", httplib::Headers{{"Idempotency-Key", key}}, body, "application/json");
}

}  // namespace

// POST /transfer with an Idempotency-Key: the retry gets the original answer (same id, same status,
// marked Idempotent-Replayed) and moves nothing; the key with another body is a 422; a malformed key
// a 400; a key whose first request is still running a 409. The key lives in the ledger, so a restart
// remembers it.
TEST(Idempotency, ARetryGetsTheOriginalAnswerAndMovesNothing) {
  const auto db = temp_db("idempotency");
  std::string id;
  {
    ServerProcess server(kCli, {"--db", db});
    auto c = server.client();
    ASSERT_EQ(post(c, "/reset"), 200);
    auto first = post_keyed(c, "\"order-17\"", transfer_body("alice", "bob", 100));  // an SF string
    ASSERT_TRUE(first);
    ASSERT_EQ(first->status, 200) << first->body;
    EXPECT_FALSE(first->has_header("Idempotent-Replayed"));
    id = json::parse(first->body)["id"];
    auto again = post_keyed(c, "order-17", transfer_body("alice", "bob", 100));  // the bare token too
    ASSERT_EQ(again->status, 200);
    EXPECT_EQ(again->get_header_value("Idempotent-Replayed"), "true");
    auto replay = json::parse(again->body);
    EXPECT_EQ(replay["id"], id);
    EXPECT_EQ(replay["from_balance_after"], 900);
    EXPECT_EQ(replay["idempotency_key"], "order-17");
    EXPECT_EQ(balance(c, "alice"), 900);

    auto refused = post_keyed(c, "order-18", transfer_body("charlie", "bob", 5000));
    EXPECT_EQ(refused->status, 409);
    EXPECT_EQ(post_keyed(c, "order-18", transfer_body("charlie", "bob", 5000))->status, 409);

    auto other = post_keyed(c, "order-17", transfer_body("alice", "bob", 200));
    EXPECT_EQ(other->status, 422);
    EXPECT_NE(json::parse(other->body)["error"].get<std::string>().find("'order-17' was used for another"),
              std::string::npos)
        << other->body;
    for (const std::string& bad : {std::string("\"\""), std::string("has space"), std::string(256, 'k')}) {
      auto r = post_keyed(c, bad, transfer_body("alice", "bob", 1));
      EXPECT_EQ(r->status, 400) << "key '" << bad << "': " << r->body;
    }
    EXPECT_EQ(balance(c, "alice"), 900);
    EXPECT_EQ(get(c, "/transactions")["transactions"].size(), 2u);
    EXPECT_EQ(metric(c, "racelab_idempotent_replays_total"), 2);

    // In flight: the first request sleeps 2 s at the window; the second with its key is a 409.
    ASSERT_EQ(post(c, "/admin/delay?enabled=true&ms=2000"), 200);
    int slow_status = 0;
    std::thread t([&] {
      auto cs = server.client();
      auto r = post_keyed(cs, "order-19", transfer_body("alice", "bob", 1));
      slow_status = r ? r->status : -1;
    });
    while (metric(c, "concurrent_transfers") < 1) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    auto busy = post_keyed(c, "order-19", transfer_body("alice", "bob", 1));
    t.join();
    EXPECT_EQ(busy->status, 409);
    EXPECT_NE(busy->body.find("still in flight"), std::string::npos) << busy->body;
    EXPECT_EQ(slow_status, 200);
    ASSERT_EQ(post(c, "/admin/delay?enabled=false"), 200);
  }
  // Another process on the same ledger remembers the key.
  ServerProcess server(kCli, {"--db", db});
  auto c = server.client();
  auto after = post_keyed(c, "order-17", transfer_body("alice", "bob", 100));
  EXPECT_EQ(after->status, 200);
  EXPECT_EQ(after->get_header_value("Idempotent-Replayed"), "true");
  EXPECT_EQ(json::parse(after->body)["id"], id);
  EXPECT_EQ(balance(c, "alice"), 899);
  EXPECT_EQ(get(c, "/audit")["clean"], true);
}

// POST /admin/fault arms a database fault for the page and curl: a COMMIT whose answer is lost is a
// 503 to the client, although the money moved. The retry with its Idempotency-Key gets the original
// answer; a retry without one moves the money again — the double transfer faults exist to show.
TEST(Faults, ALostCommitIsA503AndOnlyAKeyedRetryIsSafe) {
  ServerProcess server(kCli, {"--db", temp_db("faults")});
  auto c = server.client();
  ASSERT_EQ(post(c, "/reset"), 200);
  json out;
  EXPECT_EQ(post(c, "/admin/fault?point=sql.commit&kind=gremlin", "", &out), 400);
  EXPECT_NE(out["error"].get<std::string>().find("unknown fault kind 'gremlin'"), std::string::npos) << out;
  EXPECT_EQ(post(c, "/admin/fault?kind=busy", "", &out), 400);
  EXPECT_EQ(post(c, "/admin/fault?point=sql.commit&kind=lost_after_commit&times=0", "", &out), 400);
  // A fault the point can never produce is refused, not armed to fire never.
  EXPECT_EQ(post(c, "/admin/fault?point=sql.commit&kind=deadlock", "", &out), 400);
  EXPECT_NE(
      out["error"].get<std::string>().find("the point 'sql.commit' never fails with 'deadlock'; it offers: "
                                           "crash,lost_before,lost_after_commit,serialization"),
      std::string::npos)
      << out;
  EXPECT_EQ(post(c, "/admin/fault?point=sql.select.accounts&kind=lost_after_commit", "", &out), 400);
  EXPECT_EQ(post(c, "/admin/fault?point=transfer.after_read&kind=timeout", "", &out), 400);
  EXPECT_EQ(get(c, "/admin/faults")["faults"].size(), 0u);

  ASSERT_EQ(post(c, "/admin/fault?point=sql.commit&kind=lost_after_commit", "", &out), 200);
  ASSERT_EQ(out["faults"].size(), 1u) << out;
  auto lost = post_keyed(c, "pay-1", transfer_body("alice", "bob", 100));
  ASSERT_EQ(lost->status, 503) << lost->body;
  EXPECT_NE(lost->body.find("may or may not have happened"), std::string::npos) << lost->body;
  EXPECT_EQ(balance(c, "alice"), 900);  // it did
  auto retried = post_keyed(c, "pay-1", transfer_body("alice", "bob", 100));
  EXPECT_EQ(retried->status, 200) << retried->body;
  EXPECT_EQ(retried->get_header_value("Idempotent-Replayed"), "true");
  EXPECT_EQ(balance(c, "alice"), 900);
  EXPECT_EQ(get(c, "/admin/faults")["faults"][0]["fired"], 1);

  ASSERT_EQ(post(c, "/admin/fault?point=sql.commit&kind=lost_after_commit", "", &out), 200);
  EXPECT_EQ(post(c, "/transfer", transfer_body("alice", "bob", 100)), 503);
  EXPECT_EQ(post(c, "/transfer", transfer_body("alice", "bob", 100)), 200);  // the blind retry
  EXPECT_EQ(balance(c, "alice"), 700);                                       // moved twice
  EXPECT_EQ(get(c, "/audit")["clean"], true);  // the books explain it: two transfers, two rows

  ASSERT_EQ(post(c, "/admin/fault?clear=true", "", &out), 200);
  EXPECT_EQ(out["faults"].size(), 0u);
  EXPECT_EQ(post(c, "/transfer", transfer_body("alice", "bob", 100)), 200);
}

// RACELAB_HOOKS arms the same fault for a whole process, without the admin API: the service's first
// COMMIT loses its answer.
TEST(Faults, RacelabHooksArmsThemForAWholeProcess) {
  ServerProcess server(kCli, {"--db", temp_db("faults_env")},
                       {"RACELAB_HOOKS=sql.commit=fault:lost_after_commit"});
  auto c = server.client();
  auto lost = post_keyed(c, "env-1", transfer_body("alice", "bob", 100));
  ASSERT_EQ(lost->status, 503) << lost->body;
  auto retried = post_keyed(c, "env-1", transfer_body("alice", "bob", 100));
  EXPECT_EQ(retried->status, 200) << retried->body;
  EXPECT_EQ(retried->get_header_value("Idempotent-Replayed"), "true");
  EXPECT_EQ(balance(c, "alice"), 900);
}
