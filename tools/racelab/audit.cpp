// `racelab audit --db URL [--json]`: the bank's books against its ledger (bank/ledger.hpp) — money
// total vs. the opening balances, negative balances, and every balance equal to its opening
// balance plus the ledger's movements. Exit 0 clean, 1 not clean, 2 no such bank.
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>

#include "bank/ledger.hpp"
#include "common/db.hpp"
#include "service/http.hpp"
#include "verbs.hpp"

namespace racelab::cli {
namespace {

struct AuditOptions {
  std::string db;
  bool json = false;
};

int print(const lab::bank::AuditReport& a, bool as_json) {
  const auto problems = a.problems();
  if (as_json) {
    std::cout << lab::service::audit_json(a).dump(2) << '\n';
  } else {
    std::cout << "money: " << a.money_total << " of " << a.money_expected
              << " expected; ledger: " << a.ledger_rows << " rows, " << a.ledger_successes
              << " successful transfers; " << a.accounts.size() << " accounts\n";
    for (const auto& acc : a.accounts)
      std::cout << "  " << acc.id << ": " << acc.balance << " = opening " << acc.opening_balance
                << " + ledger " << acc.movements << (acc.matches() ? "" : "  MISMATCH") << '\n';
    for (const auto& p : problems) std::cout << "problem: " << p << '\n';
    std::cout << (problems.empty() ? "audit: clean\n" : "audit: NOT clean\n");
  }
  return problems.empty() ? kExitOk : kExitFailed;
}

int audit(const AuditOptions& o) {
  // A SQLite path that does not exist is a mistake, not a new empty bank: opening it would create it.
  if (o.db.rfind("sqlite:", 0) == 0 && o.db.rfind("sqlite:memdb:", 0) != 0 &&
      !std::filesystem::exists(o.db.substr(7))) {
    std::cerr << "racelab audit: no SQLite database at '" << o.db.substr(7) << "'\n";
    return kExitUsage;
  }
  std::unique_ptr<lab::Db> db;
  try {
    db = lab::open_db(o.db);
  } catch (const std::exception& e) {
    std::cerr << "racelab audit: cannot open '" << o.db << "': " << e.what() << '\n';
    return kExitUsage;
  }
  try {
    return print(lab::bank::audit(*db), o.json);
  } catch (const lab::bank::NoLedger& e) {
    std::cerr << "racelab audit: " << e.what() << '\n';
    return kExitUsage;
  }
}

}  // namespace

void add_audit(CLI::App& app, std::function<int()>& run) {
  auto* cmd = app.add_subcommand(
      "audit", "Check a bank's books against its ledger (exit 0 clean, 1 not clean, 2 no such bank)");
  auto o = std::make_shared<AuditOptions>();
  cmd->add_option("--db", o->db,
                  "sqlite:PATH, a PostgreSQL conninfo / postgresql://… URL, or a mariadb://… URL")
      ->required();
  cmd->add_flag("--json", o->json, "Print the audit as JSON");
  cmd->callback([&run, o] { run = [o] { return audit(*o); }; });
}

}  // namespace racelab::cli
