// One process, one connection, one transfer (or a reset, or a balance): the building block of the
// cross-process test. RACELAB_HOOKS shapes the race from outside.
//   bank_probe URL reset STRATEGY | URL balance ACCOUNT | URL transfer STRATEGY FROM TO AMOUNT
#include <iostream>
#include <string>

#include "bank/sql_bank.hpp"

int main(int argc, char** argv) {
  if (argc < 4) {
    std::cerr << "usage: bank_probe URL reset STRATEGY | URL balance ACCOUNT | URL transfer STRATEGY FROM TO "
                 "AMOUNT\n";
    return 2;
  }
  try {
    auto db = lab::open_db(argv[1]);
    const std::string verb = argv[2];
    lab::bank::SqlBank bank(*db);
    if (verb == "balance") {
      std::cout << bank.balance(argv[3]) << '\n';
      return 0;
    }
    auto strategy = lab::parse_strategy(argv[3]);
    if (!strategy) {
      std::cerr << "unknown strategy '" << argv[3] << "'\n";
      return 2;
    }
    if (verb == "reset") {
      lab::bank::SqlBank::reset(*db, *strategy);
      return 0;
    }
    if (verb == "transfer" && argc == 7) {
      auto r = bank.transfer(argv[4], argv[5], std::stoll(argv[6]), *strategy);
      std::cout << lab::bank::to_string(r.status) << '\n';
      return 0;
    }
    std::cerr << "bad arguments\n";
    return 2;
  } catch (const lab::DbBusy& e) {
    std::cout << "busy\n";
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "bank_probe: " << e.what() << '\n';
    return 1;
  }
}
