// The lab's switches over HTTP: /admin/delay, /admin/barrier, /admin/transactions, /admin/strategy,
// /admin/fire and /admin/settings (see bank_service.hpp and docs/service.md).
#include "service/state.hpp"

namespace lab::service {

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
    if ((before.strategy == Strategy::constraint) != (settings.strategy == Strategy::constraint)) {
      reset_bank(settings.strategy);  // the CHECK lives in the schema
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
