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

std::vector<Word> words_of(std::string_view sql) {
  std::vector<Word> out;
  int depth = 0;
  for (std::size_t i = 0; i < sql.size();) {
    const char c = sql[i];
    if (c == '\'') {  // a string: skipped ('' inside it is a quote)
      for (++i; i < sql.size(); ++i) {
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
    } else if (c == ')') {
      --depth, ++i;
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

std::string sql_literal(const std::optional<std::string>& v) {
  if (!v) return "NULL";
  std::string out = "'";
  for (char c : *v) out += c == '\'' ? std::string("''") : std::string(1, c);
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

}  // namespace

Recorder::Recorder(std::string backend, const Query& query) : backend_(std::move(backend)) {
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
    if (t.key.empty())
      for (std::size_t c = 0; c < t.columns.size(); ++c) t.key.push_back(c);
}

const TableInfo* Recorder::table(const std::string& name) const {
  for (const auto& t : tables_)
    if (t.name == name || lower(t.name) == name) return &t;
  return nullptr;
}

std::vector<std::string> Recorder::setup_sql() const {
  std::vector<std::string> out;
  if (backend_ != "mariadb") return out;
  // Each row written, appended to @racelab_w as "w" and its columns, or "d" and its key's columns
  // (deleted): each column as a SQL literal (QUOTE: the value's text, or NULL), separated by
  // \x1f, each entry ended by \x1e. A session variable, so recording takes no lock.
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
    out.push_back("CREATE TRIGGER `racelab_i_" + t.name + "` AFTER INSERT" + on + "'w', " + all(t) +
                  ", CHAR(30))");
    out.push_back("CREATE TRIGGER `racelab_u_" + t.name + "` AFTER UPDATE" + on + "IF(" + same_key(t) +
                  ", '', CONCAT('d', " + key(t, "OLD") + ", CHAR(30))), 'w', " + all(t) + ", CHAR(30))");
    out.push_back("CREATE TRIGGER `racelab_d_" + t.name + "` AFTER DELETE" + on + "'d', " + key(t, "OLD") +
                  ", CHAR(30))");
  }
  return out;
}

Shape Recorder::select_shape(const std::string& sql, std::size_t select_at) const {
  const auto words = words_of(std::string_view(sql).substr(select_at));
  Shape s;
  const int depth = words.empty() ? 0 : words.front().depth;
  std::size_t from = 0;
  bool rows_only = false;  // a subquery or a LIMIT: its WHERE alone does not say what it saw
  for (std::size_t i = 1; i < words.size(); ++i) {
    const auto& w = words[i];
    if (w.depth > depth && w.text == "SELECT") rows_only = true;
    if (w.depth != depth) continue;
    if (from == 0 && w.text == "FROM") from = i;
    // Rows it matched and did not return: its WHERE does not describe what it saw.
    if (is_any(w.text, {"LIMIT", "OFFSET", "FETCH", "SKIP"})) rows_only = true;
    if (is_any(w.text, {"UNION", "INTERSECT", "EXCEPT", "GROUP", "HAVING", "WINDOW"}))
      throw std::invalid_argument("it reads through " + w.text +
                                  " (the history follows a read of one table)");
  }
  if (from == 0 || from + 1 >= words.size()) return s;  // no table read: SELECT 1
  const auto& name = words[from + 1];
  s.kind = Shape::Kind::read;
  s.table = identifier(name.text);
  const TableInfo* t = table(s.table);
  if (t == nullptr)
    throw std::invalid_argument("it reads '" + s.table + "', which is not a table of the setup");
  s.table = t->name;
  s.alias = t->name;
  std::size_t next = from + 2;
  if (next < words.size() && words[next].depth == depth && words[next].text == "AS") ++next;
  if (next < words.size() && words[next].depth == depth &&
      !is_any(words[next].text, {"WHERE", "ORDER", "LIMIT", "FOR", "LOCK", "OFFSET", "FETCH", ";"})) {
    if (words[next].text == "," ||
        is_any(words[next].text, {"JOIN", "INNER", "LEFT", "RIGHT", "FULL", "CROSS", "NATURAL"}))
      throw std::invalid_argument("it reads more than one table (the history follows a read of one table)");
    s.alias = identifier(words[next].text);
    ++next;
  }
  for (std::size_t i = next; i < words.size(); ++i)
    if (words[i].depth == depth &&
        (words[i].text == "," || is_any(words[i].text, {"JOIN", "CROSS", "NATURAL"})))
      throw std::invalid_argument("it reads more than one table (the history follows a read of one table)");
  const std::size_t body = select_at + name.at;  // from the table on, in `sql`
  std::size_t stop = sql.size();                 // the end of this SELECT (a closing parenthesis)
  for (int d = 0, i = static_cast<int>(body); i < static_cast<int>(sql.size()); ++i) {
    if (sql[static_cast<std::size_t>(i)] == '(') ++d;
    if (sql[static_cast<std::size_t>(i)] == ')' && d-- == 0) {
      stop = static_cast<std::size_t>(i);
      break;
    }
  }
  s.shadow = "SELECT * FROM " + sql.substr(body, stop - body);
  for (std::size_t i = from + 2; i < words.size(); ++i) {
    if (words[i].depth != depth || words[i].text != "WHERE") continue;
    std::size_t end = stop;
    for (std::size_t j = i + 1; j < words.size(); ++j)
      if (words[j].depth == depth &&
          is_any(words[j].text, {"ORDER", "LIMIT", "FOR", "LOCK", "OFFSET", "FETCH"})) {
        end = select_at + words[j].at;
        break;
      }
    const std::size_t cond = select_at + words[i].end;
    s.where = sql.substr(cond, std::min(end, stop) - cond);
    while (!s.where.empty() && std::isspace(static_cast<unsigned char>(s.where.back()))) s.where.pop_back();
    while (!s.where.empty() && std::isspace(static_cast<unsigned char>(s.where.front()))) s.where.erase(0, 1);
    break;
  }
  s.predicate = !rows_only;
  return s;
}

Shape Recorder::shape(const std::string& sql) const {
  const auto words = words_of(sql);
  if (words.empty()) return {};
  const auto& first = words.front().text;
  if (is_any(first, {"SAVEPOINT", "RELEASE"}) ||
      (first == "ROLLBACK" && words.size() > 1 && is_any(words[1].text, {"TO"})))
    throw std::invalid_argument("the history does not follow savepoints");
  if (first == "SELECT" || first == "WITH") {
    if (first == "WITH")
      throw std::invalid_argument("it reads through WITH (the history follows a read of one table)");
    return select_shape(sql, 0);
  }
  if (!is_any(first, {"INSERT", "UPDATE", "DELETE", "REPLACE"})) return {};
  std::size_t name = 1;
  while (name < words.size() && is_any(words[name].text, {"INTO", "FROM", "OR", "IGNORE", "LOW_PRIORITY",
                                                          "REPLACE", "ABORT", "FAIL", "ROLLBACK", "ONLY"}))
    ++name;
  if (name >= words.size()) return {};
  Shape s;
  s.kind = Shape::Kind::write;
  s.table = identifier(words[name].text);
  const TableInfo* t = table(s.table);
  if (t == nullptr)
    throw std::invalid_argument("it writes '" + s.table + "', which is not a table of the setup");
  s.table = t->name;
  for (std::size_t i = name + 1; i < words.size(); ++i) {
    const auto& w = words[i];
    if (w.depth != 0) continue;
    if (w.text == "RETURNING" && backend_ != "mariadb")
      throw std::invalid_argument("it has a RETURNING clause of its own (the history adds RETURNING *)");
    if (first == "UPDATE" && (w.text == "FROM" || (w.text == "," && i == name + 1)))
      throw std::invalid_argument("it updates through another table (the history follows one table)");
    if (first == "DELETE" && w.text == "USING")
      throw std::invalid_argument("it deletes through another table (the history follows one table)");
    if (first != "UPDATE" && w.text == "SELECT" && !s.reads) {
      auto read = select_shape(sql, w.at);
      if (read.kind == Shape::Kind::read) {
        if (read.table == s.table)
          throw std::invalid_argument(
              "it inserts into the table its SELECT reads (the history cannot tell "
              "the rows apart)");
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
      throw std::runtime_error("history: " + t.name + "." + t.columns[c] + " not in the row");
    if (!a.nulls[i][at]) row[c] = a.rows[i][at];
  }
  return row;
}

std::pair<std::string, std::string> Recorder::key_value(const TableInfo& t, const Row& row) {
  std::string key, value;
  for (std::size_t n = 0; n < t.key.size(); ++n) key += (n ? ", " : "") + row[t.key[n]].value_or("NULL");
  for (std::size_t c = 0; c < t.columns.size(); ++c) {
    if (std::find(t.key.begin(), t.key.end(), c) != t.key.end()) continue;
    value += (value.empty() ? "" : ", ") + t.columns[c] + "=" + row[c].value_or("NULL");
  }
  if (value.empty()) value = "present";
  versions_[t.name].emplace(key + '\x1f' + value, row);
  return {key, value};
}

void Recorder::start(const Query& query) {
  history_ = racelab::History();
  wheres_.clear();
  versions_.clear();
  for (const auto& t : tables_) {
    const auto a = query("SELECT * FROM " + t.name);
    for (std::size_t i = 0; i < a.rows.size(); ++i) {
      auto [key, value] = key_value(t, in_order(t, a, i));
      history_.initial(t.name, key, value);
    }
  }
}

void Recorder::read(racelab::History::Txn txn, const Shape& shape, const std::string& sql,
                    const Query& query) {
  const auto& t = *table(shape.table);
  const auto a = query(shape.shadow);
  std::vector<racelab::History::Row> rows;
  for (std::size_t i = 0; i < a.rows.size(); ++i) rows.push_back(key_value(t, in_order(t, a, i)));
  // What it returned, row by row (an overwrite of one is an anti-dependency, whether or not it
  // changes the match), and, where its WHERE can be asked of a row alone, the predicate.
  for (const auto& [key, value] : rows) history_.read(txn, t.name, key, value, sql);
  if (!shape.predicate) return;
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
}

void Recorder::record(racelab::History::Txn txn, const Shape& shape, const std::string& sql, Answer& answer,
                      const Query& query) {
  if (shape.reads) read(txn, *shape.reads, sql, query);
  if (shape.kind == Shape::Kind::read) return read(txn, shape, sql, query);
  if (shape.kind != Shape::Kind::write) return;
  const auto& t = *table(shape.table);
  if (backend_ != "mariadb") {  // the rows RETURNING * gave, then the answer as written
    for (std::size_t i = 0; i < answer.rows.size(); ++i) {
      auto [key, value] = key_value(t, in_order(t, answer, i));
      history_.write(txn, t.name, key, value, sql);
    }
    answer.changed = static_cast<std::int64_t>(answer.rows.size());
    answer.columns.clear(), answer.rows.clear(), answer.nulls.clear();
    return;
  }
  const auto w = query("SELECT @racelab_w");
  query("SET @racelab_w = NULL");
  if (w.rows.empty() || w.nulls[0][0]) return;
  for (const auto& entry : split(w.rows[0][0], '\x1e')) {
    if (entry.empty()) continue;
    const auto literals = split(entry.substr(1), '\x1f');
    const bool deleted = entry[0] == 'd';
    if (literals.size() != (deleted ? t.key.size() : t.columns.size()))
      throw std::runtime_error("history: a row written to " + t.name + " did not parse");
    if (deleted) {
      std::string key;
      for (std::size_t n = 0; n < literals.size(); ++n)
        key += (n ? ", " : "") + unquote(literals[n]).value_or("NULL");
      history_.write(txn, t.name, key, std::nullopt, sql);
      continue;
    }
    Row row;
    for (const auto& l : literals) row.push_back(unquote(l));
    auto [key, value] = key_value(t, row);
    history_.write(txn, t.name, key, value, sql);
  }
}

racelab::HistoryReport Recorder::finish(const Query& query) {
  // Whether each version of a table matches each predicate read of it: the database says, the
  // versions put in a temporary table as the table's own columns.
  std::map<std::string, std::vector<const Where*>> by_table;
  for (const auto& w : wheres_) by_table[w.table].push_back(&w);
  for (const auto& [name, wheres] : by_table) {
    const auto& versions = versions_[name];
    const bool maria = backend_ == "mariadb";
    query(std::string(maria ? "CREATE TEMPORARY TABLE" : "CREATE TEMP TABLE") +
          " racelab_versions AS SELECT *, 0 AS racelab_version FROM " + name + " LIMIT 0");
    std::vector<const std::string*> ids;
    for (const auto& [id, row] : versions) {
      std::string values;
      for (const auto& v : row) values += sql_literal(v) + ", ";
      query("INSERT INTO racelab_versions VALUES (" + values + std::to_string(ids.size()) + ")");
      ids.push_back(&id);
    }
    for (const auto* w : wheres) {
      const auto a =
          query("SELECT racelab_version FROM racelab_versions AS " + w->alias + " WHERE " + w->condition);
      for (const auto& row : a.rows) w->matching->insert(*ids.at(std::stoul(row.at(0))));
    }
    query(maria ? "DROP TEMPORARY TABLE racelab_versions" : "DROP TABLE racelab_versions");
  }
  return racelab::check(history_);
}

}  // namespace lab::sqlcase
