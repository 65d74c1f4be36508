#include "sqlcase/history.hpp"

#include <algorithm>
#include <cctype>
#include <stdexcept>

namespace lab::sqlcase {
namespace {

std::string upper(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool word_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '$'; }

// A statement's words outside quotes, with where they start and how deep in parentheses.
struct Word {
  std::string text;  // upper case; a quoted identifier keeps its quotes and case
  std::size_t at = 0, end = 0;
  int depth = 0;
};

// `backslash`: a backslash escapes the next character in a string (MariaDB's default).
std::vector<Word> words_of(std::string_view sql, bool backslash) {
  std::vector<Word> out;
  int depth = 0;
  for (std::size_t i = 0; i < sql.size();) {
    const char c = sql[i];
    if (c == '\'') {  // a string: skipped ('' inside it is a quote)
      for (++i; i < sql.size(); ++i) {
        if (backslash && sql[i] == '\\') {
          ++i;
          continue;
        }
        if (sql[i] != '\'') continue;
        if (i + 1 < sql.size() && sql[i + 1] == '\'') {
          ++i;
          continue;
        }
        break;
      }
      ++i;
    } else if (c == '"' || c == '`') {  // a quoted identifier: one word
      const auto close = sql.find(c, i + 1);
      const auto end = close == std::string_view::npos ? sql.size() : close + 1;
      out.push_back({std::string(sql.substr(i, end - i)), i, end, depth});
      i = end;
    } else if (c == '$' && i + 1 < sql.size() && sql[i + 1] == '$') {  // $$…$$
      const auto close = sql.find("$$", i + 2);
      i = close == std::string_view::npos ? sql.size() : close + 2;
    } else if (c == '(') {
      ++depth, ++i;
    } else if (c == ')') {  // a word at the depth it goes back to, so a SELECT can find its end
      --depth;
      out.push_back({")", i, i + 1, depth});
      ++i;
    } else if (word_char(c)) {
      const auto start = i;
      while (i < sql.size() && (word_char(sql[i]) || sql[i] == '.')) ++i;
      out.push_back({upper(sql.substr(start, i - start)), start, i, depth});
    } else {
      if (c == ',' || c == ';') out.push_back({std::string(1, c), i, i + 1, depth});
      ++i;
    }
  }
  return out;
}

// An identifier as the catalog has it: unquoted, a schema prefix dropped, lower case unless quoted.
std::string identifier(std::string_view word) {
  if (const auto dot = word.rfind('.');
      dot != std::string_view::npos && word.front() != '"' && word.front() != '`')
    word = word.substr(dot + 1);
  if (!word.empty() && (word.front() == '"' || word.front() == '`'))
    return std::string(word.substr(1, word.size() >= 2 ? word.size() - 2 : 0));
  return lower(word);
}

bool is_any(const std::string& w, std::initializer_list<const char*> list) {
  return std::any_of(list.begin(), list.end(), [&](const char* s) { return w == s; });
}

// MariaDB's QUOTE() of a value: the value again ("NULL" unquoted is SQL NULL).
std::optional<std::string> unquote(std::string_view q) {
  if (q == "NULL") return std::nullopt;
  std::string out;
  for (std::size_t i = 1; i + 1 < q.size(); ++i) {
    if (q[i] == '\\' && i + 2 < q.size()) {
      const char e = q[++i];
      out += e == '0' ? '\0' : e == 'Z' ? '\x1a' : e;
    } else {
      out += q[i];
    }
  }
  return out;
}

// `backslash`: the server reads a backslash in a string as an escape (MariaDB's default).
std::string sql_literal(const std::optional<std::string>& v, bool backslash) {
  if (!v) return "NULL";
  std::string out = "'";
  for (char c : *v) {
    if (c == '\'') out += '\'';
    if (c == '\\' && backslash) out += '\\';
    out += c;
  }
  return out + "'";
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::size_t from = 0;
  for (auto at = s.find(sep); at != std::string::npos; at = s.find(sep, from)) {
    out.push_back(s.substr(from, at - from));
    from = at + 1;
  }
  if (from < s.size()) out.push_back(s.substr(from));
  return out;
}

const std::string& column(const Answer& a, std::size_t row, std::size_t col) {
  return a.rows.at(row).at(col);
}

// A column's value in a row's key or value text: as it is, unless it could be read as something
// else there (NULL, a separator, a quote, blanks at an end): then quoted, so texts never collide.
std::string shown(const std::optional<std::string>& v) {
  if (!v) return "NULL";
  const bool plain = !v->empty() && *v != "NULL" && v->find_first_of(",='") == std::string::npos &&
                     !std::isspace(static_cast<unsigned char>(v->front())) &&
                     !std::isspace(static_cast<unsigned char>(v->back()));
  if (plain) return *v;
  std::string out = "'";
  for (char c : *v) out += c == '\'' ? std::string("''") : std::string(1, c);
  return out + "'";
}

}  // namespace

Recorder::Recorder(std::string backend, std::string level, const Query& query)
    : backend_(std::move(backend)), level_(std::move(level)) {
  Answer a;
  if (backend_ == "sqlite")
    a = query(
        "SELECT m.name, p.name, p.pk FROM sqlite_master m JOIN pragma_table_info(m.name) p "
        "WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' ORDER BY m.name, p.cid");
  else if (backend_ == "postgresql")
    a = query(
        "SELECT c.relname, a.attname, CASE WHEN a.attnum = ANY(i.indkey) THEN 1 ELSE 0 END "
        "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped "
        "LEFT JOIN pg_index i ON i.indrelid = c.oid AND i.indisprimary "
        "WHERE n.nspname = current_schema() AND c.relkind = 'r' ORDER BY c.relname, a.attnum");
  else
    a = query(
        "SELECT TABLE_NAME, COLUMN_NAME, CASE WHEN COLUMN_KEY = 'PRI' THEN 1 ELSE 0 END "
        "FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() ORDER BY TABLE_NAME, "
        "ORDINAL_POSITION");
  for (std::size_t i = 0; i < a.rows.size(); ++i) {
    if (tables_.empty() || tables_.back().name != column(a, i, 0))
      tables_.push_back({column(a, i, 0), {}, {}});
    auto& t = tables_.back();
    if (column(a, i, 2) != "0") t.key.push_back(t.columns.size());
    t.columns.push_back(column(a, i, 1));
  }
  for (auto& t : tables_)
    if (t.key.empty()) {
      t.primary = false;
      for (std::size_t c = 0; c < t.columns.size(); ++c) t.key.push_back(c);
    }
  if (backend_ == "mariadb") {
    const auto mode = query("SELECT @@sql_mode");
    backslash_ = mode.rows.empty() || mode.rows[0][0].find("NO_BACKSLASH_ESCAPES") == std::string::npos;
  }
}

const TableInfo* Recorder::table(const std::string& name) const {
  for (const auto& t : tables_)
    if (t.name == name || lower(t.name) == name) return &t;
  return nullptr;
}

std::vector<std::string> Recorder::setup_sql() const {
  std::vector<std::string> out;
  if (backend_ != "mariadb") return out;
  // Each row written, appended to @racelab_w as "w", its table, \x1d and its columns, or "d", its
  // table, \x1d and its key's columns (deleted): each column as a SQL literal (QUOTE: the value's
  // text, or NULL), separated by \x1f, each entry ended by \x1e. The table is named because a
  // trigger of the setup's may write another table. A session variable, so recording takes no lock.
  auto key = [](const TableInfo& t, const char* row) {
    std::string k = "CONCAT_WS(CHAR(31)";
    for (auto c : t.key) k += std::string(", QUOTE(") + row + ".`" + t.columns[c] + "`)";
    return k + ")";
  };
  auto all = [](const TableInfo& t) {
    std::string k = "CONCAT_WS(CHAR(31)";
    for (const auto& c : t.columns) k += ", QUOTE(NEW.`" + c + "`)";
    return k + ")";
  };
  auto same_key = [](const TableInfo& t) {
    std::string s;
    for (auto c : t.key)
      s += (s.empty() ? "" : " AND ") + ("OLD.`" + t.columns[c] + "` <=> NEW.`" + t.columns[c] + "`");
    return s;
  };
  for (const auto& t : tables_) {
    const std::string on =
        " ON `" + t.name + "` FOR EACH ROW SET @racelab_w = CONCAT(IFNULL(@racelab_w, ''), ";
    const std::string w = "'w" + t.name + "', CHAR(29), ", d = "'d" + t.name + "', CHAR(29), ";
    out.push_back("CREATE TRIGGER `racelab_i_" + t.name + "` AFTER INSERT" + on + w + all(t) + ", CHAR(30))");
    out.push_back("CREATE TRIGGER `racelab_u_" + t.name + "` AFTER UPDATE" + on + "IF(" + same_key(t) +
                  ", '', CONCAT(" + d + key(t, "OLD") + ", CHAR(30))), " + w + all(t) + ", CHAR(30))");
    out.push_back("CREATE TRIGGER `racelab_d_" + t.name + "` AFTER DELETE" + on + d + key(t, "OLD") +
                  ", CHAR(30))");
  }
  return out;
}

Shape Recorder::select_shape(const std::string& sql, std::size_t select_at, bool in_insert) const {
  const bool maria = backend_ == "mariadb";
  const auto words = words_of(std::string_view(sql).substr(select_at), backslash_);
  Shape s;
  const int depth = words.empty() ? 0 : words.front().depth;
  // The SELECT ends at a parenthesis that closes around it, or (in an INSERT) at its ON CONFLICT,
  // ON DUPLICATE KEY or RETURNING.
  std::size_t last = words.size();
  for (std::size_t i = 1; i < words.size() && last == words.size(); ++i)
    if ((words[i].text == ")" && words[i].depth < depth) ||
        (in_insert && words[i].depth == depth && is_any(words[i].text, {"ON", "RETURNING"})))
      last = i;
  const std::size_t stop = last < words.size() ? select_at + words[last].at : sql.size();
  std::size_t from = 0, where = 0, order = 0, limit = 0, lock = 0;  // word indexes, 0: none
  bool rows_only = false;  // a subquery, a LIMIT, SKIP LOCKED: its WHERE alone does not say what it saw
  for (std::size_t i = 1; i < last; ++i) {
    const auto& w = words[i];
    if (w.depth > depth && w.text == "SELECT") rows_only = true;
    if (w.depth != depth) continue;
    if (is_any(w.text, {"UNION", "INTERSECT", "EXCEPT", "GROUP", "HAVING", "WINDOW"}))
      throw std::invalid_argument("it reads through " + w.text +
                                  " (the history follows a read of one table)");
    if (from == 0) {
      if (w.text == "FROM") from = i;
      continue;
    }
    if (w.text == "," || is_any(w.text, {"JOIN", "CROSS", "NATURAL"}))
      throw std::invalid_argument("it reads more than one table (the history follows a read of one table)");
    if (w.text == "WHERE" && where == 0) where = i;
    if (w.text == "ORDER" && order == 0) order = i;
    if (is_any(w.text, {"LIMIT", "OFFSET", "FETCH"}) && limit == 0) limit = i, rows_only = true;
    if (is_any(w.text, {"FOR", "LOCK"}) && lock == 0) lock = i;
    if (w.text == "SKIP") rows_only = true;
  }
  if (from == 0 || from + 1 >= last) return s;  // no table read: SELECT 1
  const auto& name = words[from + 1];
  s.kind = Shape::Kind::read;
  s.table = identifier(name.text);
  const TableInfo* t = table(s.table);
  if (t == nullptr)
    throw std::invalid_argument("it reads '" + s.table + "', which is not a table of the setup");
  s.table = t->name;
  s.alias = t->name;
  std::size_t next = from + 2;
  if (next < last && words[next].depth == depth && words[next].text == "AS") ++next;
  if (next < last && words[next].depth == depth &&
      !is_any(words[next].text, {"WHERE", "ORDER", "LIMIT", "FOR", "LOCK", "OFFSET", "FETCH", ";"})) {
    if (is_any(words[next].text, {"INNER", "LEFT", "RIGHT", "FULL"}))
      throw std::invalid_argument("it reads more than one table (the history follows a read of one table)");
    s.alias = identifier(words[next].text);
  }
  // The text from word i to the next clause that starts at one of `ends` (or the SELECT's end).
  auto at = [&](std::size_t i) { return i == 0 ? stop : select_at + words[i].at; };
  auto upto = [&](std::size_t begin, std::initializer_list<std::size_t> ends) {
    std::size_t end = stop;
    for (auto e : ends)
      if (e != 0 && at(e) > begin) end = std::min(end, at(e));
    std::string text = sql.substr(begin, end - begin);
    while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.pop_back();
    while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) text.erase(0, 1);
    return text;
  };
  if (where != 0) s.where = upto(select_at + words[where].end, {order, limit, lock});
  // SELECT * FROM the table, its alias and WHERE; ORDER BY only with a LIMIT (which it decides;
  // alone it may name the select list's aliases); the locking clause where the database needs it
  // to read what the statement read: MariaDB's locking reads see the newest version, not the
  // snapshot. PostgreSQL's see the version the snapshot would at read committed, or fail at the
  // stronger levels, so a plain read suffices there, except for SKIP LOCKED (which rows it skips).
  s.shadow = "SELECT * FROM " + upto(select_at + name.at, {order, limit, lock});
  if (limit != 0) {  // its own columns first, so an ORDER BY naming an alias or a position means the same
    s.shadow = "SELECT " + upto(select_at + words[0].end, {from}) + ", " + s.alias + ".* FROM " +
               upto(select_at + name.at, {order, limit, lock}) + " " +
               (order != 0 ? upto(at(order), {lock}) : upto(at(limit), {lock}));
    s.tail = true;
  }
  const std::string locking = lock != 0 ? upto(at(lock), {}) : std::string();
  if (maria && !locking.empty())
    s.shadow += " " + locking;
  else if (maria && in_insert && (level_ == "repeatable read" || level_ == "serializable"))
    s.shadow += " LOCK IN SHARE MODE";  // InnoDB's INSERT … SELECT reads with shared locks there
  else if (!maria && upper(locking).find("SKIP") != std::string::npos)
    s.shadow += " " + locking;
  // A MariaDB shadow that would wait for a lock after all (its plan locks rows the statement's did
  // not) gives up in a second rather than holding up the search.
  if (maria) s.shadow = "SET STATEMENT innodb_lock_wait_timeout = 1 FOR " + s.shadow;
  s.predicate = !rows_only;
  return s;
}

Shape Recorder::shape(const std::string& sql) const {
  const auto words = words_of(sql, backslash_);
  if (words.empty()) return {};
  const auto& first = words.front().text;
  if (is_any(first, {"SAVEPOINT", "RELEASE"}) ||
      (first == "ROLLBACK" && words.size() > 1 && is_any(words[1].text, {"TO"})))
    throw std::invalid_argument("the history does not follow savepoints");
  if (is_any(first, {"WITH", "MERGE", "TRUNCATE", "CALL", "DO", "COPY", "LOAD", "EXECUTE", "EXEC", "HANDLER",
                     "UPSERT", "PERFORM"}))
    throw std::invalid_argument("it is " + first + ", whose reads and writes the history cannot see");
  if (first == "SELECT") {
    for (const auto& w : words)
      if (w.depth == 0 && w.text == "INTO")
        throw std::invalid_argument("it is SELECT … INTO, whose writes the history cannot see");
    return select_shape(sql, 0, false);
  }
  if (!is_any(first, {"INSERT", "UPDATE", "DELETE", "REPLACE"})) return {};
  std::size_t name = 1;
  while (name < words.size() && is_any(words[name].text, {"INTO", "FROM", "OR", "IGNORE", "LOW_PRIORITY",
                                                          "REPLACE", "ABORT", "FAIL", "ROLLBACK", "ONLY"}))
    ++name;
  if (name >= words.size()) return {};
  Shape s;
  s.kind = Shape::Kind::write;
  s.deletes = first == "DELETE";
  s.table = identifier(words[name].text);
  const TableInfo* t = table(s.table);
  if (t == nullptr)
    throw std::invalid_argument("it writes '" + s.table + "', which is not a table of the setup");
  s.table = t->name;
  bool set = false;  // an UPDATE's SET has begun
  for (std::size_t i = name + 1; i < words.size(); ++i) {
    const auto& w = words[i];
    if (w.depth != 0) continue;
    if (w.text == "SET") set = true;
    if (w.text == "RETURNING" && backend_ != "mariadb")
      throw std::invalid_argument("it has a RETURNING clause of its own (the history adds RETURNING *)");
    if (first == "UPDATE" && (w.text == "FROM" || (!set && (w.text == "," || w.text == "JOIN"))))
      throw std::invalid_argument("it updates through another table (the history follows one table)");
    if (first == "DELETE" && (w.text == "USING" || w.text == "JOIN" || w.text == ","))
      throw std::invalid_argument("it deletes through another table (the history follows one table)");
    if (first != "UPDATE" && first != "DELETE" && w.text == "SELECT" && !s.reads) {
      auto read = select_shape(sql, w.at, true);
      if (read.kind == Shape::Kind::read) {
        if (read.table == s.table)
          throw std::invalid_argument(
              "it inserts into the table its SELECT reads (the history cannot tell the rows apart)");
        s.reads = std::make_shared<Shape>(std::move(read));
      }
    }
  }
  return s;
}

std::string Recorder::rewrite(const std::string& sql, const Shape& shape) const {
  if (shape.kind != Shape::Kind::write || backend_ == "mariadb") return sql;
  return sql + " RETURNING *";
}

Recorder::Row Recorder::in_order(const TableInfo& t, const Answer& a, std::size_t i) const {
  Row row(t.columns.size());
  for (std::size_t c = 0; c < t.columns.size(); ++c) {
    std::size_t at = 0;
    while (at < a.columns.size() && lower(a.columns[at]) != lower(t.columns[c])) ++at;
    if (at == a.columns.size())
      throw RecordError(t.name + "." + t.columns[c] + " is not in the rows read back");
    if (!a.nulls[i][at]) row[c] = a.rows[i][at];
  }
  return row;
}

std::pair<std::string, std::string> Recorder::key_value(const TableInfo& t, const Row& row) {
  std::string key, value;
  for (std::size_t n = 0; n < t.key.size(); ++n) key += (n ? ", " : "") + shown(row[t.key[n]]);
  for (std::size_t c = 0; c < t.columns.size(); ++c) {
    if (std::find(t.key.begin(), t.key.end(), c) != t.key.end()) continue;
    value += (value.empty() ? "" : ", ") + t.columns[c] + "=" + shown(row[c]);
  }
  if (value.empty()) value = "present";
  versions_[t.name].emplace(key + '\x1f' + value, row);
  return {key, value};
}

std::string Recorder::before(const Shape& shape) const {
  return shape.kind == Shape::Kind::write && backend_ == "mariadb" ? "SET @racelab_w = NULL" : "";
}

void Recorder::start(const Query& query) {
  history_ = racelab::History();
  wheres_.clear();
  versions_.clear();
  initial_.clear();
  writes_.clear();
  left_out_ = 0;
  events_.clear();
  unordered_ = false;
  for (const auto& t : tables_) {
    const auto a = query("SELECT * FROM " + t.name);
    for (std::size_t i = 0; i < a.rows.size(); ++i) {
      auto [key, value] = key_value(t, in_order(t, a, i));
      if (!initial_.emplace(t.name + '\x1f' + key, value).second) throw RecordError(twins(t));
      history_.initial(t.name, key, value);
    }
  }
}

void Recorder::write(racelab::History::Txn txn, const TableInfo& t, const std::string& key,
                     const std::optional<std::string>& value, const std::string& sql) {
  auto& versions = writes_[t.name + '\x1f' + key];
  if (!t.primary && value) {  // a whole-row key: the row must not be there already
    const auto i = initial_.find(t.name + '\x1f' + key);
    const bool there = versions.empty() ? i != initial_.end() : versions.back().second.has_value();
    if (there) throw RecordError(twins(t));
  }
  history_.write(txn, t.name, key, value, sql);
  versions.emplace_back(txn, value);
  events_.push_back({txn, false});
}

// Whether more than one version of `row` has `value`: the initial one, or another transaction's
// write (the reader's own last write is what it reads, whatever the others wrote).
bool Recorder::ambiguous(racelab::History::Txn reader, const std::string& row,
                         const std::string& value) const {
  const auto w = writes_.find(row);
  if (w != writes_.end())
    for (auto it = w->second.rbegin(); it != w->second.rend(); ++it)
      if (it->first == reader) {
        if (it->second == value) return false;
        break;
      }
  std::set<racelab::History::Txn> writers;
  if (w != writes_.end())
    for (const auto& [txn, v] : w->second)
      if (txn != reader && v == value) writers.insert(txn);
  const auto i = initial_.find(row);
  return writers.size() + (i != initial_.end() && i->second == value ? 1 : 0) > 1;
}

std::string Recorder::twins(const TableInfo& t) {
  return "table " + t.name +
         " has no primary key and two identical rows: the history cannot tell them apart "
         "(give it a primary key)";
}

void Recorder::read(racelab::History::Txn txn, const Shape& shape, const std::string& sql,
                    const Query& query) {
  const auto& t = *table(shape.table);
  auto a = query(shape.shadow);
  if (shape.tail) {  // the statement's own columns came first: the row is the rest
    const auto skip = a.columns.size() - std::min(a.columns.size(), t.columns.size());
    a.columns.erase(a.columns.begin(), a.columns.begin() + static_cast<std::ptrdiff_t>(skip));
    for (auto& row : a.rows) row.erase(row.begin(), row.begin() + static_cast<std::ptrdiff_t>(skip));
    for (auto& row : a.nulls) row.erase(row.begin(), row.begin() + static_cast<std::ptrdiff_t>(skip));
  }
  std::vector<racelab::History::Row> rows;
  std::set<std::string> keys;
  for (std::size_t i = 0; i < a.rows.size(); ++i) {
    rows.push_back(key_value(t, in_order(t, a, i)));
    if (!keys.insert(rows.back().first).second) throw RecordError(twins(t));
  }
  // What it returned, row by row (an overwrite of one is an anti-dependency, whether or not it
  // changes the match), and, where its WHERE says which rows it saw, the predicate. A row whose
  // value more than one version had is left out (the checker would have to guess which it read),
  // and then the predicate too (the row would count as one it did not match).
  bool whole = true;
  for (const auto& [key, value] : rows) {
    if (ambiguous(txn, t.name + '\x1f' + key, value)) {
      ++left_out_;
      whole = false;
      continue;
    }
    history_.read(txn, t.name, key, value, sql);
    events_.push_back({txn, false});
  }
  if (!shape.predicate || !whole) return;
  auto matching = std::make_shared<std::set<std::string>>();
  if (!shape.where.empty()) wheres_.push_back({t.name, shape.alias, shape.where, matching});
  racelab::History::Matches matches;
  if (shape.where.empty())
    matches = [](std::string_view, std::string_view) { return true; };
  else
    matches = [matching](std::string_view key, std::string_view value) {
      return matching->count(std::string(key) + '\x1f' + std::string(value)) != 0;
    };
  history_.read_where(txn, t.name, shape.where.empty() ? "every row" : shape.where, std::move(matches),
                      std::move(rows), sql);
  events_.push_back({txn, false});
}

void Recorder::record(racelab::History::Txn txn, const Shape& shape, const std::string& sql, Answer& answer,
                      const Query& query, std::optional<std::size_t> waited_since) try {
  if (waited_since && !unordered_) {
    // The lock it waited for was released at the first end of another transaction since it was
    // sent; the server ran it then. Another transaction's read or write recorded after that may
    // have come after it in the database, though it comes first in the history.
    std::size_t e = *waited_since;
    while (e < events_.size() && !(events_[e].ends && events_[e].txn != txn)) ++e;
    for (std::size_t f = e + 1; f < events_.size() && !unordered_; ++f)
      unordered_ = !events_[f].ends && events_[f].txn != txn;
  }
  if (shape.reads) read(txn, *shape.reads, sql, query);
  if (shape.kind == Shape::Kind::read) return read(txn, shape, sql, query);
  if (shape.kind != Shape::Kind::write) return;
  if (backend_ !=
      "mariadb") {  // the rows RETURNING * gave (a DELETE's as they were), then the answer as written
    const auto& t = *table(shape.table);
    for (std::size_t i = 0; i < answer.rows.size(); ++i) {
      auto [key, value] = key_value(t, in_order(t, answer, i));
      write(txn, t, key, shape.deletes ? std::nullopt : std::optional<std::string>(value), sql);
    }
    answer.changed = static_cast<std::int64_t>(answer.rows.size());
    answer.columns.clear(), answer.rows.clear(), answer.nulls.clear();
    return;
  }
  const auto w = query("SELECT @racelab_w");
  query("SET @racelab_w = NULL");
  if (w.rows.empty() || w.nulls[0][0]) return;
  for (const auto& entry : split(w.rows[0][0], '\x1e')) {  // "w" or "d", the table, \x1d, its columns
    if (entry.empty()) continue;
    const auto name_end = entry.find('\x1d');
    const TableInfo* t = name_end == std::string::npos ? nullptr : table(entry.substr(1, name_end - 1));
    if (t == nullptr) throw RecordError("a row written by '" + sql + "' names no table of the setup");
    const auto literals = split(entry.substr(name_end + 1), '\x1f');
    const bool deleted = entry[0] == 'd';
    if (literals.size() != (deleted ? t->key.size() : t->columns.size()))
      throw RecordError("a row written to " + t->name +
                        " did not parse (a value holding \\x1d, \\x1e or \\x1f?)");
    if (deleted) {
      std::string key;
      for (std::size_t n = 0; n < literals.size(); ++n) key += (n ? ", " : "") + shown(unquote(literals[n]));
      write(txn, *t, key, std::nullopt, sql);
      continue;
    }
    Row row;
    for (const auto& l : literals) row.push_back(unquote(l));
    auto [key, value] = key_value(*t, row);
    write(txn, *t, key, value, sql);
  }
} catch (const RecordError&) {
  throw;
} catch (const std::exception& e) {
  throw RecordError(std::string("recording '") + sql + "': " + e.what());
}

racelab::HistoryReport Recorder::finish(const Query& query) {
  // Whether each version of a table matches each predicate read of it: the database says, the
  // versions put in a temporary table as the table's own columns.
  const bool maria = backend_ == "mariadb";
  const std::string drop =
      maria ? "DROP TEMPORARY TABLE IF EXISTS racelab_versions" : "DROP TABLE IF EXISTS racelab_versions";
  std::map<std::string, std::vector<const Where*>> by_table;
  for (const auto& w : wheres_) by_table[w.table].push_back(&w);
  try {
    for (const auto& [name, wheres] : by_table) {
      const auto& versions = versions_[name];
      query(drop);
      query(std::string(maria ? "CREATE TEMPORARY TABLE" : "CREATE TEMP TABLE") +
            " racelab_versions AS SELECT *, 0 AS racelab_version FROM " + name + " LIMIT 0");
      std::vector<const std::string*> ids;
      for (const auto& [id, row] : versions) {
        std::string values;
        for (const auto& v : row) values += sql_literal(v, backslash_) + ", ";
        query("INSERT INTO racelab_versions VALUES (" + values + std::to_string(ids.size()) + ")");
        ids.push_back(&id);
      }
      for (const auto* w : wheres) {
        const auto a =
            query("SELECT racelab_version FROM racelab_versions AS " + w->alias + " WHERE " + w->condition);
        for (const auto& row : a.rows) w->matching->insert(*ids.at(std::stoul(row.at(0))));
      }
      query(drop);
    }
  } catch (const std::exception& e) {
    try {
      query(drop);
    } catch (...) {
    }
    throw RecordError(std::string("asking which versions match a predicate read: ") + e.what());
  }
  auto report = racelab::check(history_);
  if (!report.problems.empty() && !unordered_)  // out of order, a read can come before its write
    throw RecordError(
        "the history has a read no recorded write explains (a write --history cannot see: a "
        "trigger or cascade of the setup's, or a statement it does not follow): " +
        report.problems.front());
  return report;
}

}  // namespace lab::sqlcase
