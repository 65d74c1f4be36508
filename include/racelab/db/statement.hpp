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

namespace racelab::db {

std::string statement_point_name(std::string_view sql);

}  // namespace racelab::db
