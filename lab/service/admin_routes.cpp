// The lab's switches over HTTP: /admin/delay, /admin/barrier, /admin/transactions, /admin/strategy,
// /admin/fire, /admin/settings and /admin/fault (see bank_service.hpp and docs/service.md).
#include "service/state.hpp"

namespace lab::service {

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
         auto name = req.get_param_value("name");
         auto strategy = parse_strategy(name);
         if (!strategy) {
           std::string names;
           for (auto s : kAllStrategies) names += (names.empty() ? "" : ", ") + std::string(to_string(s));
           return error(res, 400, "unknown strategy '" + name + "' (one of: " + names + ")");
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
         const std::string point = req.get_param_value("point"), kind = req.get_param_value("kind");
         if (point.empty()) return error(res, 400, "'point' is missing (e.g. point=sql.commit)");
         auto fault = racelab::parse_fault(kind);
         if (!fault)
           return error(res, 400,
                        "unknown fault kind '" + kind + "' (one of: " + racelab::fault_names() + ")");
         std::int64_t times = 1;
         if (req.has_param("times")) {
           const std::string t = req.get_param_value("times");
           if (t == "always") {
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
         auto body = json_object(req, res);
         if (!body) return;
         Settings next;
         {
           std::lock_guard lk(settings_mu);
           next = settings;
         }
         for (auto& [key, value] : body->items()) {
           if ((key == "delay_enabled" || key == "barrier_enabled" || key == "use_transactions") &&
               !value.is_boolean())
             return error(res, 400, "'" + key + "' must be true or false");
           if ((key == "delay_ms" || key == "barrier_count") && !value.is_number_integer())
             return error(res, 400, "'" + key + "' must be an integer");
           if (key == "delay_enabled")
             next.delay_enabled = value;
           else if (key == "delay_ms") {
             int v = value;
             if (v < 0 || v > 60'000) return error(res, 400, "'delay_ms' must be from 0 to 60000");
             next.delay_ms = v;
           } else if (key == "barrier_enabled")
             next.barrier_enabled = value;
           else if (key == "barrier_count") {
             int v = value;
             if (v < 1 || v > 60) return error(res, 400, "'barrier_count' must be from 1 to 60");
             next.barrier_count = v;
           } else if (key == "use_transactions")
             next.strategy = value.get<bool>() ? Strategy::mutex : Strategy::unsafe;
           else if (key == "strategy") {
             auto s = value.is_string() ? parse_strategy(value.get<std::string>()) : std::nullopt;
             if (!s) return error(res, 400, "unknown strategy " + value.dump());
             next.strategy = *s;
           } else {
             return error(res, 400, "unknown setting '" + key + "'");
           }
         }
         update(res, [&](Settings& s) { s = next; });
       }));
}

}  // namespace lab::service
