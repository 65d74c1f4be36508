// The lab's switches over HTTP: /admin/delay, /admin/barrier, /admin/transactions, /admin/strategy,
// /admin/fire, /admin/settings and /admin/fault (see bank_service.hpp and docs/service.md).
#include "service/state.hpp"

#include <cctype>
#include <racelab/db/statement.hpp>
#include <racelab/fault.hpp>

namespace lab::service {
namespace {

// What a point can fail with: `sql.VERB[.TABLE]` as its statement's verb offers, anything a crash.
racelab::FaultSet offered_faults(const std::string& point) {
  racelab::FaultSet offered{racelab::Fault::crash};
  if (!point.starts_with("sql.")) return offered;
  std::string verb = point.substr(4, point.find('.', 4) - 4);
  for (auto& c : verb) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  const racelab::FaultSet by_verb = racelab::db::statement_faults(verb);
  for (int i = 0; i < racelab::kFaultKinds; ++i)
    if (by_verb.contains(static_cast<racelab::Fault>(i)))
      offered = offered.with(static_cast<racelab::Fault>(i));
  return offered;
}

}  // namespace

json BankService::State::faults_json() {
  json list = json::array();
  for (const auto& f : armed_faults)
    list.push_back({{"point", f.point},
                    {"kind", std::string(racelab::to_string(f.kind))},
                    {"times", f.times < 0 ? json("always") : json(f.times)},
                    {"fired", f.action.fired()}});
  return {{"faults", list}};
}

void BankService::State::settings_routes(httplib::Server& server) {
  auto admin = [this](auto fn) {
    return [this, fn](const httplib::Request& req, httplib::Response& res) {
      if (!authorized(req, res)) return;
      fn(req, res);
    };
  };
  auto update = [this](httplib::Response& res, auto change) {
    std::lock_guard lk(settings_mu);
    Settings before = settings;
    change(settings);
    rearm();
    // The CHECK lives in the schema: switching to or from `constraint` makes a new bank, unless the
    // schema already is what the new strategy needs (a restarted service, back on its strategy).
    const bool check = settings.strategy == Strategy::constraint;
    if ((before.strategy == Strategy::constraint) != check &&
        bank::SqlBank::has_balance_check(db()) != check) {
      reset_bank(settings.strategy);
    }
    reply(res, 200, settings_json(settings));
  };
  post(server, "/admin/delay", admin([this, update](const httplib::Request& req, httplib::Response& res) {
         auto enabled = bool_param(req, res, "enabled", true);
         if (!enabled) return;
         std::optional<int> ms;
         {
           std::lock_guard lk(settings_mu);
           ms = int_param(req, res, "ms", settings.delay_ms, 0, 60'000);
         }
         if (!ms) return;
         update(res, [&](Settings& s) {
           s.delay_enabled = *enabled;
           s.delay_ms = *ms;
         });
       }));
  post(server, "/admin/barrier", admin([this, update](const httplib::Request& req, httplib::Response& res) {
         auto enabled = bool_param(req, res, "enabled", true);
         if (!enabled) return;
         std::optional<int> count;
         {
           std::lock_guard lk(settings_mu);
           count = int_param(req, res, "count", settings.barrier_count, 1, 60);
         }
         if (!count) return;
         update(res, [&](Settings& s) {
           s.barrier_enabled = *enabled;
           s.barrier_count = *count;
         });
       }));
  post(server, "/admin/transactions", admin([update](const httplib::Request& req, httplib::Response& res) {
         auto enabled = bool_param(req, res, "enabled", true);
         if (!enabled) return;
         update(res, [&](Settings& s) { s.strategy = *enabled ? Strategy::mutex : Strategy::unsafe; });
       }));
  post(server, "/admin/strategy", admin([update](const httplib::Request& req, httplib::Response& res) {
         auto name = text_param(req, res, "name");
         if (!name) return;
         auto strategy = parse_strategy(*name);
         if (!strategy) {
           std::string names;
           for (auto s : kAllStrategies) names += (names.empty() ? "" : ", ") + std::string(to_string(s));
           return error(res, 400, "unknown strategy '" + clip(*name) + "' (one of: " + names + ")");
         }
         update(res, [&](Settings& s) { s.strategy = *strategy; });
       }));
  post(server, "/admin/fire",
       admin([this](const httplib::Request& req, httplib::Response& res) { fire(req, res); }));
  // POST /admin/fault?point=sql.commit&kind=lost_after_commit[&times=N|always]: the next N statements
  // at that point fail so (once by default); ?clear=true disarms every fault.
  post(server, "/admin/fault", admin([this](const httplib::Request& req, httplib::Response& res) {
         auto clear = bool_param(req, res, "clear", false);
         if (!clear) return;
         std::lock_guard lk(settings_mu);
         if (*clear) {
           armed_faults.clear();
           fault_hooks.reset();
           return reply(res, 200, faults_json());
         }
         auto point_param = text_param(req, res, "point");
         if (!point_param) return;
         auto kind_param = text_param(req, res, "kind");
         if (!kind_param) return;
         const std::string point = *point_param, kind = *kind_param;
         if (point.empty()) return error(res, 400, "'point' is missing (e.g. point=sql.commit)");
         auto fault = racelab::parse_fault(kind);
         if (!fault)
           return error(res, 400,
                        "unknown fault kind '" + clip(kind) + "' (one of: " + racelab::fault_names() + ")");
         // Refuse what could never fire: a SQL statement's point offers its verb's faults
         // (racelab/db/statement.hpp), any other point only a crash.
         const racelab::FaultSet offered = offered_faults(point);
         if (!offered.contains(*fault))
           return error(res, 400,
                        "the point '" + clip(point) + "' never fails with '" + kind +
                            "'; it offers: " + (offered.empty() ? std::string("nothing") : offered.text()));
         std::int64_t times = 1;
         if (req.has_param("times")) {
           const std::string t = req.get_param_value("times");
           if (t == "always" && req.get_param_value_count("times") == 1) {
             times = -1;
           } else {
             auto n = int_param(req, res, "times", 1, 1, 1'000'000);
             if (!n) return;
             times = *n;
           }
         }
         if (!fault_hooks) fault_hooks = std::make_unique<racelab::Hooks>();
         auto action = fault_hooks->fault(point, *fault);
         if (times < 0)
           action.always();
         else
           action.times(times);
         armed_faults.push_back({point, *fault, times, action});
         reply(res, 200, faults_json());
       }));
  server.Get("/admin/faults", admin([this](const httplib::Request&, httplib::Response& res) {
               std::lock_guard lk(settings_mu);
               reply(res, 200, faults_json());
             }));
  server.Get("/admin/settings", admin([this](const httplib::Request&, httplib::Response& res) {
               std::lock_guard lk(settings_mu);
               reply(res, 200, settings_json(settings));
             }));
  post(server, "/admin/settings", admin([this, update](const httplib::Request& req, httplib::Response& res) {
         Settings current;
         {
           std::lock_guard lk(settings_mu);
           current = settings;
         }
         auto next = settings_request(req, res, current);
         if (!next) return;
         update(res, [&](Settings& s) { s = *next; });
       }));
}

}  // namespace lab::service
