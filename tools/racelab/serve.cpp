// `racelab serve`: the Lab 21 bank over HTTP (see lab/service/bank_service.hpp for the API).
#include <httplib.h>

#include <pthread.h>

#include <csignal>
#include <iostream>
#include <memory>
#include <stdexcept>
#include <thread>

#include "fatal_signals.hpp"
#include "service/bank_service.hpp"
#include "verbs.hpp"

namespace racelab::cli {
namespace {

// httplib's pool, whose threads each get an alternate signal stack on their first request: a
// request that overflows its thread's stack is reported (fatal_signals.hpp) like any other crash.
class RequestThreads : public httplib::TaskQueue {
 public:
  explicit RequestThreads(std::size_t n) : pool_(n) {}
  void enqueue(std::function<void()> fn) override {
    pool_.enqueue([fn = std::move(fn)] {
      use_signal_stack();
      fn();
    });
  }
  void shutdown() override { pool_.shutdown(); }

 private:
  httplib::ThreadPool pool_;
};

bool loopback(const std::string& host) {
  return host == "127.0.0.1" || host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

struct ServeOptions {
  std::string db = "sqlite:racelab-bank.db";
  int port = 8000;
  std::string bind = "127.0.0.1";
  std::string admin_token;
  bool lab_compat = false;
  int threads = 64;
  std::string otlp_endpoint;
};

int serve(const ServeOptions& o) {
  if (!loopback(o.bind) && o.admin_token.empty()) {
    std::cerr << "racelab serve: binding to " << o.bind
              << " exposes the admin endpoints beyond this machine; give --admin-token TOKEN\n";
    return kExitUsage;
  }
  sigset_t block_now;  // before any thread starts, so every thread inherits the mask
  sigemptyset(&block_now);
  sigaddset(&block_now, SIGINT);
  sigaddset(&block_now, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &block_now, nullptr);
  std::unique_ptr<lab::service::BankService> service_ptr;
  try {
    service_ptr =
        std::make_unique<lab::service::BankService>(lab::service::Config{.db = o.db,
                                                                         .admin_token = o.admin_token,
                                                                         .lab_compat = o.lab_compat,
                                                                         .otlp_endpoint = o.otlp_endpoint});
  } catch (const std::invalid_argument& e) {
    std::cerr << "racelab serve: " << e.what() << "\n";
    return kExitUsage;
  }
  auto& service = *service_ptr;
  httplib::Server server;
  const int threads = o.threads;
  server.new_task_queue = [threads] { return new RequestThreads(static_cast<std::size_t>(threads)); };
  server.set_tcp_nodelay(true);  // a response is two writes; Nagle + delayed ACK would add 40 ms
  server.set_keep_alive_max_count(100'000);
  service.mount(server);
  int port = o.port;
  if (port == 0) {
    port = server.bind_to_any_port(o.bind);
  } else if (!server.bind_to_port(o.bind, port)) {
    std::cerr << "racelab serve: cannot listen on " << o.bind << ":" << port << " (in use?)\n";
    return kExitFailed;
  }
  if (port < 0) {
    std::cerr << "racelab serve: cannot listen on " << o.bind << "\n";
    return kExitFailed;
  }
  // SIGINT/SIGTERM are taken by a thread of their own (sigwait), which stops the server: nothing
  // but async-signal-safe code runs in signal context.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  std::thread stopper([&] {
    int sig = 0;
    sigwait(&stop_signals, &sig);
    server.stop();
  });
  std::cout << "racelab serve: listening on http://" << o.bind << ":" << port << " (db " << o.db << ")"
            << std::endl;
  server.listen_after_bind();
  if (stopper.joinable()) {
    pthread_kill(stopper.native_handle(), SIGTERM);  // wakes sigwait if the server stopped otherwise
    stopper.join();
  }
  std::cout << "racelab serve: stopped" << std::endl;
  return kExitOk;
}

}  // namespace

void add_serve(CLI::App& app, std::function<int()>& run) {
  auto* cmd =
      app.add_subcommand("serve", "Run the Lab 21 bank as an HTTP service (API, admin switches, metrics)");
  auto o = std::make_shared<ServeOptions>();
  cmd->add_option("--db", o->db,
                  "sqlite:PATH, a PostgreSQL conninfo / postgresql://… URL, or "
                  "mariadb://user[:password]@host[:port]/database")
      ->capture_default_str();
  cmd->add_option("--port", o->port, "TCP port; 0 picks a free one (printed)")
      ->check(CLI::Range(0, 65535))
      ->capture_default_str();
  cmd->add_option("--bind", o->bind, "Address to listen on")->capture_default_str();
  cmd->add_option("--admin-token", o->admin_token, "Bearer token required on /admin/* (needed off loopback)");
  cmd->add_flag("--lab-compat", o->lab_compat, "Answer insufficient funds with 200, as the original lab did");
  cmd->add_option("--otlp-endpoint", o->otlp_endpoint,
                  "Export a span per transfer as OTLP/HTTP JSON to this collector (http://127.0.0.1:4318)");
  cmd->add_option("--threads", o->threads, "Request threads (a barrier of N needs at least N)")
      ->check(CLI::Range(2, 512))
      ->capture_default_str();
  cmd->callback([&run, o] { run = [o] { return serve(*o); }; });
}

}  // namespace racelab::cli
