// Crash safety of `racelab serve`: the process is killed with SIGKILL — at the worst moment, and at
// random moments under load — restarted on the same database, and its clients send again what was
// never answered. On SQLite and on PostgreSQL.
//
// The worst moment is after the COMMIT and before the HTTP answer (the point `transfer.after_commit`,
// held by RACELAB_HOOKS): the transfer happened, the client cannot know it. A retry without an
// Idempotency-Key moves the money a second time; with the key it gets the original answer.
//
// Knobs for long runs (bench/soak.sh): RACELAB_CRASH_ROUNDS (kills per strategy, default 5),
// RACELAB_CRASH_CLIENTS (default 4), RACELAB_CRASH_STRATEGIES (default "atomic pessimistic"),
// RACELAB_CRASH_SEED (default: a fresh one, printed first).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <sstream>
#include <thread>

#include "bank/ledger.hpp"
#include "common/db.hpp"
#include "server_process.hpp"

using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

const std::string kCli = RACELAB_CLI_PATH;
using Clock = std::chrono::steady_clock;

// A database of the test's own: a fresh SQLite file, or a schema in the ctest PostgreSQL cluster
// (tests running at once never share tables; POST /reset empties it).
std::string database(const std::string& backend, const std::string& name) {
  if (backend == "sqlite") {
    auto path = std::filesystem::temp_directory_path() /
                ("racelab_crash_" + name + "_" + std::to_string(::getpid()) + ".db");
    for (auto suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path.string() + suffix);
    return "sqlite:" + path.string();
  }
  const char* dir = std::getenv("RACELAB_PG_DIR");
  if (dir == nullptr)
    throw std::runtime_error("RACELAB_PG_DIR is not set: run with ctest (it starts PostgreSQL)");
  std::string base;
  std::ifstream in(std::filesystem::path(dir) / "conninfo");
  if (!std::getline(in, base) || base.empty())
    throw std::runtime_error("no PostgreSQL cluster in " + std::string(dir));
  const std::string schema = "crash_" + name;
  lab::open_db(base)->script("CREATE SCHEMA IF NOT EXISTS " + schema);
  return base + " options='-csearch_path=" + schema + "'";
}

int post(httplib::Client& c, const std::string& path) {
  auto r = c.Post(path.c_str(), "", "application/json");
  return r ? r->status : -1;
}

json get(httplib::Client& c, const std::string& path) {
  auto r = c.Get(path.c_str());
  if (!r) throw std::runtime_error("GET " + path + " failed");
  return json::parse(r->body);
}

std::string transfer_body(const std::string& from, const std::string& to, std::int64_t amount) {
  return json{{"from_account", from}, {"to_account", to}, {"amount", amount}}.dump();
}

httplib::Result send(httplib::Client& c, const std::string& key, const std::string& body) {
  httplib::Headers headers;
  if (!key.empty()) headers.emplace("Idempotency-Key", key);
  return c.Post("/transfer", headers, body, "application/json");
}

std::int64_t ledger_rows(lab::Db& db) {
  return db.query_int64("SELECT count(*) FROM transfers", {}).value_or(-1);
}

int env_int(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::atoi(v) : fallback;
}

// ---------------------------------------------------------------------------------------------
// The worst moment, deterministically.

struct KilledThenRetried {
  std::string committed_id;  // the row the killed server committed
  int retry_status = 0;
  bool replayed = false;
  std::string retry_id;
  std::int64_t rows = 0;  // ledger rows for the one request, after the retry
  std::int64_t alice = 0;
  json audit;
};

// alice -> bob 100 (strategy atomic) to a server that holds 10 s at `transfer.after_commit`; killed
// once another connection sees the ledger row, that is once the transfer has committed but is not
// answered; then the same request, to a server restarted on the same database.
KilledThenRetried kill_after_commit_then_retry(const std::string& url, const std::string& key) {
  KilledThenRetried out;
  const auto body = transfer_body("alice", "bob", 100);
  auto db = lab::open_db(url);
  {
    ServerProcess server(kCli, {"--db", url}, {"RACELAB_HOOKS=transfer.after_commit=delay:10s"});
    auto c = server.client();
    if (post(c, "/admin/strategy?name=atomic") != 200 || post(c, "/reset") != 200)
      throw std::runtime_error("could not set up the bank: " + server.output());
    std::atomic<bool> answered{false};
    std::thread client([&] {
      auto cc = server.client();
      answered = static_cast<bool>(send(cc, key, body));
    });
    const auto deadline = Clock::now() + 30s;  // the hold is 10 s: a slow machine still gets there
    while (ledger_rows(*db) < 1 && Clock::now() < deadline) std::this_thread::sleep_for(2ms);
    const bool in_window = ledger_rows(*db) == 1 && !answered;
    server.kill();
    client.join();
    EXPECT_TRUE(in_window) << "the kill missed the window (row committed, answer not sent)";
    EXPECT_FALSE(answered) << "the killed server answered";
    auto rows = db->query_text("SELECT id FROM transfers", {});
    if (rows.size() == 1) out.committed_id = lab::bank::ledger::format_id(std::stoll(rows[0][0]));
  }
  ServerProcess server(kCli, {"--db", url});
  auto c = server.client();
  auto r = send(c, key, body);
  if (!r) throw std::runtime_error("the restarted server did not answer: " + server.output());
  out.retry_status = r->status;
  out.replayed = r->get_header_value("Idempotent-Replayed") == "true";
  out.retry_id = json::parse(r->body).value("id", "");
  out.rows = db->query_int64(
                   "SELECT count(*) FROM transfers WHERE from_account = 'alice' AND to_account = 'bob' AND "
                   "amount = 100 AND status = 'success'",
                   {})
                 .value_or(-1);
  out.alice = get(c, "/accounts/alice")["balance"];
  out.audit = get(c, "/audit");
  std::cout << "[crash] killed after COMMIT (" << out.committed_id << "), retried "
            << (key.empty() ? "without a key" : "with its key") << ": " << out.retry_status
            << (out.replayed ? " replayed" : "") << ", ledger rows for the request " << out.rows << ", alice "
            << out.alice << ", money " << out.audit["money_total"] << "\n";
  return out;
}

class Crash : public ::testing::TestWithParam<std::string> {};

// Red: SIGKILL between COMMIT and answer (held there by a delay, the kill sent once the row is
// visible to another connection); the client, unanswered, sends the same transfer again without a
// key: it is applied twice — two ledger rows, alice 800 — and the audit cannot tell.
TEST_P(Crash, AnUnkeyedRetryAfterAKillBetweenCommitAndAnswerMovesMoneyTwice) {
  auto k = kill_after_commit_then_retry(database(GetParam(), "unkeyed"), "");
  EXPECT_EQ(k.retry_status, 200);
  EXPECT_FALSE(k.replayed);
  EXPECT_NE(k.retry_id, k.committed_id);
  EXPECT_EQ(k.rows, 2) << "the retry did not apply the transfer a second time";
  EXPECT_EQ(k.alice, 800);
  EXPECT_EQ(k.audit["clean"], true) << k.audit;  // the books explain two transfers: nothing to see
  EXPECT_EQ(k.audit["money_total"], 1700);
}

// Green: the same kill, the retry with the request's Idempotency-Key: the original answer (the row
// the killed server committed, marked replayed), one ledger row, alice 900.
TEST_P(Crash, AKeyedRetryAfterAKillBetweenCommitAndAnswerMovesMoneyOnce) {
  auto k = kill_after_commit_then_retry(database(GetParam(), "keyed"), "crash-once-1");
  EXPECT_EQ(k.retry_status, 200);
  EXPECT_TRUE(k.replayed);
  EXPECT_EQ(k.retry_id, k.committed_id);
  EXPECT_EQ(k.rows, 1);
  EXPECT_EQ(k.alice, 900);
  EXPECT_EQ(k.audit["clean"], true) << k.audit;
  EXPECT_EQ(k.audit["money_total"], 1700);
}

// ---------------------------------------------------------------------------------------------
// Random moments, under load.

struct Request {
  std::string key, from, to;
  std::int64_t amount = 0;
};

struct Ack {
  Request request;
  std::string id;  // the ledger row the answer names
  bool success = false;
  bool replayed = false;
};

// Counts for one round, summed over its clients.
struct RoundTally {
  std::atomic<long> acknowledged{0}, retried{0}, replayed{0}, undecided{0};
};

// One client: its transfers come from its own seeded stream, each with a key of its own. A
// request with no answer (the server died under it) stays pending and is sent again, with the same
// key, to the next server; so is one answered with no decision (busy, conflicts: retry later).
class Client {
 public:
  Client(int index, std::uint64_t seed) : index_(index), rng_(seed) {}

  // Sends until a request goes unanswered (the server is gone) or, with `until_answered`, until
  // nothing is pending.
  void run(int port, bool until_answered, RoundTally& tally) {
    httplib::Client http("127.0.0.1", port);
    http.set_keep_alive(true);
    http.set_tcp_nodelay(true);  // headers and body are two writes: Nagle + delayed ACK would add 40 ms
    http.set_read_timeout(30, 0);
    http.set_connection_timeout(2, 0);
    for (int sent = 0; sent < kRequestsPerRoundMax; ++sent) {
      if (until_answered && !pending_) return;
      if (!pending_) pending_ = next();
      if (unanswered_) ++tally.retried;
      auto r = send(http, pending_->key, transfer_body(pending_->from, pending_->to, pending_->amount));
      unanswered_ = !r;
      if (!r) return;
      const json body = json::parse(r->body, nullptr, false);
      if ((r->status != 200 && r->status != 409) || !body.is_object() || !body.contains("status")) {
        ++tally.undecided;
        std::this_thread::sleep_for(1ms);
        continue;
      }
      const bool replayed = r->get_header_value("Idempotent-Replayed") == "true";
      acks_.push_back({*pending_, body.value("id", ""), body["status"] == "success", replayed});
      tally.replayed += replayed;
      ++tally.acknowledged;
      pending_.reset();
    }
  }
  const std::vector<Ack>& acks() const { return acks_; }
  bool pending() const { return pending_.has_value(); }

 private:
  static constexpr int kRequestsPerRoundMax = 100'000;
  static constexpr const char* kAccounts[] = {"alice", "bob", "charlie"};

  Request next() {
    Request r;
    r.key = "crash-c" + std::to_string(index_) + "-" + std::to_string(++made_);
    const auto from = rng_() % 3, to = (from + 1 + rng_() % 2) % 3;
    r.from = kAccounts[from];
    r.to = kAccounts[to];
    r.amount = 1 + static_cast<std::int64_t>(rng_() % 300);
    return r;
  }

  int index_;
  std::mt19937_64 rng_;
  int made_ = 0;
  std::optional<Request> pending_;
  bool unanswered_ = false;  // pending_ was sent and got no answer at all
  std::vector<Ack> acks_;
};

struct Totals {
  long acknowledged = 0, retried = 0, replayed = 0, undecided = 0;
};

// The books after the last round, against what the clients were told: every acknowledged transfer
// is in the ledger once, with the id it was answered with; every ledger row was acknowledged;
// every balance is its opening balance plus the acknowledged successes; the audit is clean.
void check_books(const std::string& url, httplib::Client& c, const std::vector<Client>& clients) {
  auto db = lab::open_db(url);
  std::map<std::string, std::vector<std::vector<std::string>>> by_key;
  const auto rows = db->query_text(
      "SELECT COALESCE(idempotency_key, ''), id, status, from_account, to_account, amount FROM transfers",
      {});
  for (const auto& row : rows) by_key[row[0]].push_back(row);
  std::map<std::string, const Ack*> acked;
  std::map<std::string, std::int64_t> moved;
  for (const auto& client : clients) {
    EXPECT_FALSE(client.pending()) << "a request still unanswered after the last round";
    for (const auto& ack : client.acks()) {
      EXPECT_TRUE(acked.emplace(ack.request.key, &ack).second) << ack.request.key << " acknowledged twice";
      if (!ack.success) continue;
      moved[ack.request.from] -= ack.request.amount;
      moved[ack.request.to] += ack.request.amount;
    }
  }
  EXPECT_EQ(by_key.count(""), 0u) << by_key[""].size()
                                  << " ledger rows without a key: requests applied again";
  by_key.erase("");
  for (const auto& [key, with_key] : by_key) {
    EXPECT_EQ(with_key.size(), 1u) << "key '" << key << "' applied " << with_key.size() << " times";
    EXPECT_EQ(acked.count(key), 1u) << "ledger row " << with_key[0][1] << " (key '" << key
                                    << "') was never acknowledged";
  }
  long missing = 0;
  for (const auto& [key, ack] : acked) {
    auto it = by_key.find(key);
    if (it == by_key.end()) {
      ++missing;
      continue;
    }
    const auto& row = it->second.front();
    EXPECT_EQ(lab::bank::ledger::format_id(std::stoll(row[1])), ack->id) << key;
    EXPECT_EQ(row[2] == "success", ack->success)
        << key << ": answered " << ack->success << ", ledger " << row[2];
  }
  EXPECT_EQ(missing, 0) << "acknowledged transfers missing from the ledger";
  EXPECT_EQ(rows.size(), acked.size());
  for (const auto& a : db->query_text("SELECT id, balance, opening_balance FROM accounts", {})) {
    const auto balance = std::stoll(a[1]);
    EXPECT_EQ(balance, std::stoll(a[2]) + moved[a[0]])
        << a[0] << ": not what the acknowledged transfers add up to";
    EXPECT_GE(balance, 0) << a[0] << " is negative";
  }
  const auto audit = get(c, "/audit");
  EXPECT_EQ(audit["clean"], true) << audit;
  EXPECT_EQ(audit["money_total"], 1700) << audit;
}

// Rounds of: a server on `url`, the clients sending, SIGKILL at a seeded moment; then a last
// server that answers every pending request, and the books checked.
void crash_rounds(const std::string& backend, const std::string& url, const std::string& strategy,
                  std::uint64_t seed) {
  const int rounds = env_int("RACELAB_CRASH_ROUNDS", 5), client_count = env_int("RACELAB_CRASH_CLIENTS", 4);
  std::mt19937_64 rng(seed);
  std::vector<Client> clients;
  for (int i = 0; i < client_count; ++i) clients.emplace_back(i, rng());
  Totals totals;
  auto db = lab::open_db(url);
  for (int round = 1; round <= rounds + 1; ++round) {
    const bool last = round > rounds;
    // Every other round on average, the window between COMMIT and answer is widened by a seeded
    // 1-10 ms, so that kills inside it (committed, never answered) are common, not rare.
    const long widen_ms = !last && rng() % 2 == 0 ? 1 + static_cast<long>(rng() % 10) : 0;
    std::vector<std::string> env;
    if (widen_ms > 0)
      env.push_back("RACELAB_HOOKS=transfer.after_commit=delay:" + std::to_string(widen_ms) + "ms");
    ServerProcess server(kCli, {"--db", url}, env);
    auto c = server.client();
    ASSERT_EQ(post(c, "/admin/strategy?name=" + strategy), 200) << server.output();
    if (round == 1) {
      ASSERT_EQ(post(c, "/reset"), 200) << server.output();
    }
    RoundTally tally;
    std::vector<std::thread> threads;
    const int port = server.port();
    for (auto& client : clients)
      threads.emplace_back([&client, &tally, port, last] { client.run(port, last, tally); });
    long kill_ms = 0;
    if (!last) {
      // Once every client is under way (bounded), a seeded moment later.
      const auto deadline = Clock::now() + 10s;
      while (tally.acknowledged < client_count && Clock::now() < deadline) std::this_thread::sleep_for(1ms);
      kill_ms = static_cast<long>(rng() % 250);
      std::this_thread::sleep_for(std::chrono::milliseconds(kill_ms));
      server.kill();
    }
    for (auto& t : threads) t.join();
    totals.acknowledged += tally.acknowledged;
    totals.retried += tally.retried;
    totals.replayed += tally.replayed;
    totals.undecided += tally.undecided;
    long unanswered = 0;
    for (const auto& client : clients) unanswered += client.pending();
    std::ostringstream line;
    line << "[crash] " << backend << " " << strategy << " round " << round << "/" << rounds + 1;
    line << (last ? ": no kill" : ": SIGKILL at +" + std::to_string(kill_ms) + " ms");
    if (widen_ms > 0) line << " (window +" << widen_ms << " ms)";
    line << "; acknowledged " << tally.acknowledged << " (total " << totals.acknowledged << "), retried "
         << tally.retried << " (" << tally.replayed
         << " replayed: committed before the kill, never answered), unanswered " << unanswered
         << "; ledger rows " << ledger_rows(*db) << "; money "
         << db->query_int64("SELECT SUM(balance) FROM accounts", {}).value_or(-1);
    if (tally.undecided > 0) line << "; undecided answers (sent again) " << tally.undecided;
    std::cout << line.str() << std::endl;
    if (last) check_books(url, c, clients);
  }
  std::cout << "[crash] " << backend << " " << strategy << " totals: " << rounds << " kills, "
            << totals.acknowledged << " acknowledged, " << ledger_rows(*db) << " ledger rows, "
            << totals.retried << " retried after a kill, " << totals.replayed << " replayed, "
            << totals.undecided << " undecided\n";
}

// N clients with keys, SIGKILL at seeded random moments for several rounds, a restart on the same
// database each time, unanswered requests sent again with their keys: every acknowledged transfer
// is in the ledger exactly once, no key is applied twice, the audit is clean, no balance negative.
TEST_P(Crash, KilledAtRandomMomentsEveryAcknowledgedTransferIsInTheLedgerOnce) {
  std::uint64_t seed = std::random_device{}();
  if (const char* s = std::getenv("RACELAB_CRASH_SEED"); s != nullptr && *s != '\0') seed = std::stoull(s);
  std::cout << "[crash] seed " << seed << " (RACELAB_CRASH_SEED=" << seed
            << " sends the same requests and kills at the same moments after the start; how the clients"
               " interleave is the machine's)"
            << std::endl;
  const char* list = std::getenv("RACELAB_CRASH_STRATEGIES");
  std::istringstream strategies(list != nullptr && *list != '\0' ? list : "atomic pessimistic");
  for (std::string strategy; strategies >> strategy;) {
    SCOPED_TRACE(strategy + " on " + GetParam() + ", seed " + std::to_string(seed));
    crash_rounds(GetParam(), database(GetParam(), "rounds"), strategy, seed);
    if (HasFatalFailure()) return;
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, Crash, ::testing::Values("sqlite", "postgres"),
                         [](const ::testing::TestParamInfo<std::string>& backend) { return backend.param; });

}  // namespace
