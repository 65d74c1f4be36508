// racelab/db/statement.hpp — how racelab names a SQL statement's point.
//
//   racelab::db::statement_point_name("UPDATE accounts SET balance = ? WHERE id = ?")
//       == "sql.update.accounts"
//
// "sql.<verb>[.<table>]": the verb lower-cased, the table after FROM (select, delete), INTO
// (insert) or UPDATE. Transaction control reads sql.begin, sql.commit, sql.rollback.
#pragma once

#include <string>
#include <string_view>

#include "racelab/fault.hpp"

namespace racelab::db {

std::string statement_point_name(std::string_view sql);

// The faults a statement's point offers (racelab/fault.hpp), by its verb; an adapter keeps those its
// database can produce. BEGIN: the connection lost first. COMMIT: lost first, lost after it took
// effect, a serialization failure. ROLLBACK: none (it must always run). Any other statement: lost
// first, a statement timeout, a deadlock victim, a serialization failure, a lock wait timed out.
FaultSet statement_faults(std::string_view sql);

}  // namespace racelab::db
