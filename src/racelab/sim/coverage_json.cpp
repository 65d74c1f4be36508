// Coverage's JSON form: json() writes it canonically (sorted, one window per line), from_json()
// reads it back strictly, so that shard reports merge exactly. The shape is in docs/simulation.md.
#include <algorithm>
#include <cstdio>
#include <set>
#include <tuple>

#include "racelab/coverage.hpp"
#include "racelab/sim/coverage_state.hpp"

namespace racelab {
namespace {

constexpr std::string_view kFormat = "racelab-coverage/1";
constexpr int kDepthMax = 8;  // the report nests 3 deep; anything deeper is not one

// --- writing -------------------------------------------------------------------------------

std::string quoted(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
      out += buf;
    } else {
      out += c;
    }
  }
  return out + '"';
}

void append_hex(std::string& out, std::uint64_t value, int digits) {
  static constexpr char kDigits[] = "0123456789abcdef";
  for (int shift = 4 * (digits - 1); shift >= 0; shift -= 4) out += kDigits[(value >> shift) & 0xf];
}

const std::string& name_of(const Names& names, std::uint32_t id) {
  static const std::string any(kAnyName);
  return id == kAny ? any : names.names[id];
}

// --- reading -------------------------------------------------------------------------------

struct Member;

struct Json {
  enum class Kind { null, boolean, number, string, array, object };
  Kind kind = Kind::null;
  bool boolean = false;
  std::uint64_t number = 0;
  std::string string;
  std::vector<Json> items;
  std::vector<Member> members;  // not pairs: std::pair of a type still incomplete fails in Clang 14
};

struct Member {
  std::string key;
  Json value;
};

[[noreturn]] void fail(const std::string& what) {
  throw CoverageFormatError("racelab: not a coverage report: " + what);
}

// A strict reader for the JSON the report uses: numbers are non-negative integers.
class Parser {
 public:
  explicit Parser(std::string_view text) : text_(text) {}

  Json document() {
    Json v = value(0);
    space();
    if (pos_ != text_.size()) error("text after the JSON object");
    return v;
  }

 private:
  [[noreturn]] void error(const std::string& what) const {
    fail(what + " at offset " + std::to_string(pos_));
  }
  void space() {
    while (pos_ < text_.size() &&
           (text_[pos_] == ' ' || text_[pos_] == '\n' || text_[pos_] == '\t' || text_[pos_] == '\r'))
      ++pos_;
  }
  bool eat(char c) {
    space();
    if (pos_ < text_.size() && text_[pos_] == c) return ++pos_, true;
    return false;
  }
  void expect(char c) {
    if (!eat(c)) error(std::string("expected '") + c + "'");
  }
  bool word(std::string_view w) {
    if (text_.substr(pos_, w.size()) != w) return false;
    pos_ += w.size();
    return true;
  }

  Json value(int depth) {
    if (depth > kDepthMax) error("nesting deeper than " + std::to_string(kDepthMax));
    space();
    if (pos_ >= text_.size()) error("unexpected end of input");
    Json v;
    char c = text_[pos_];
    if (c == '{') {
      v.kind = Json::Kind::object;
      ++pos_;
      if (eat('}')) return v;
      do {
        space();
        std::string key = string();
        expect(':');
        v.members.push_back(Member{std::move(key), value(depth + 1)});
      } while (eat(','));
      expect('}');
    } else if (c == '[') {
      v.kind = Json::Kind::array;
      ++pos_;
      if (eat(']')) return v;
      do v.items.push_back(value(depth + 1));
      while (eat(','));
      expect(']');
    } else if (c == '"') {
      v.kind = Json::Kind::string;
      v.string = string();
    } else if (c >= '0' && c <= '9') {
      v.kind = Json::Kind::number;
      v.number = number();
    } else if (word("true") || word("false")) {
      v.kind = Json::Kind::boolean;
      v.boolean = text_[pos_ - 1] == 'e' && text_[pos_ - 2] == 'u';
    } else if (word("null")) {
    } else {
      error(std::string("unexpected '") + c + "'");
    }
    return v;
  }

  std::uint64_t number() {
    std::uint64_t n = 0;
    std::size_t start = pos_;
    for (; pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9'; ++pos_) {
      auto digit = static_cast<std::uint64_t>(text_[pos_] - '0');
      if (n > (UINT64_MAX - digit) / 10) error("number out of range");
      n = n * 10 + digit;
    }
    if (pos_ < text_.size() && (text_[pos_] == '.' || text_[pos_] == 'e' || text_[pos_] == 'E'))
      error("a count that is not a whole number");
    if (text_[start] == '0' && pos_ - start > 1) error("a number with a leading zero");
    return n;
  }

  std::string string() {
    if (pos_ >= text_.size() || text_[pos_] != '"') error("expected a string");
    ++pos_;
    std::string out;
    while (true) {
      if (pos_ >= text_.size()) error("unterminated string");
      char c = text_[pos_++];
      if (c == '"') return out;
      if (static_cast<unsigned char>(c) < 0x20) error("a control character in a string");
      if (c != '\\') {
        out += c;
        continue;
      }
      if (pos_ >= text_.size()) error("unterminated string");
      switch (char e = text_[pos_++]) {
        case '"':
        case '\\':
        case '/': out += e; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': append_utf8(out, code_point()); break;
        default: error(std::string("bad escape '\\") + e + "'");
      }
    }
  }

  std::uint32_t hex4() {
    if (pos_ + 4 > text_.size()) error("a short \\u escape");
    std::uint32_t v = 0;
    for (int i = 0; i < 4; ++i) {
      char c = text_[pos_++];
      int d = c >= '0' && c <= '9'   ? c - '0'
              : c >= 'a' && c <= 'f' ? c - 'a' + 10
              : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                     : -1;
      if (d < 0) error("a bad \\u escape");
      v = v << 4 | static_cast<std::uint32_t>(d);
    }
    return v;
  }

  std::uint32_t code_point() {
    std::uint32_t cp = hex4();
    if (cp >= 0xdc00 && cp <= 0xdfff) error("a lone low surrogate");
    if (cp >= 0xd800 && cp <= 0xdbff) {
      if (!word("\\u")) error("a high surrogate without its low half");
      std::uint32_t low = hex4();
      if (low < 0xdc00 || low > 0xdfff) error("a high surrogate without its low half");
      cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
    }
    return cp;
  }

  static void append_utf8(std::string& out, std::uint32_t cp) {
    auto byte = [&out](std::uint32_t b) { out += static_cast<char>(static_cast<unsigned char>(b)); };
    if (cp < 0x80) {
      byte(cp);
    } else if (cp < 0x800) {
      byte(0xc0 | cp >> 6), byte(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
      byte(0xe0 | cp >> 12), byte(0x80 | (cp >> 6 & 0x3f)), byte(0x80 | (cp & 0x3f));
    } else {
      byte(0xf0 | cp >> 18), byte(0x80 | (cp >> 12 & 0x3f)), byte(0x80 | (cp >> 6 & 0x3f)),
          byte(0x80 | (cp & 0x3f));
    }
  }

  std::string_view text_;
  std::size_t pos_ = 0;
};

// An object's members by name, each at most once; done() rejects any member nobody asked for.
class Fields {
 public:
  Fields(const Json& object, std::string where) : object_(object), where_(std::move(where)) {
    if (object.kind != Json::Kind::object) fail(where_ + " is not an object");
    std::set<std::string_view> seen;
    for (const auto& [key, v] : object.members)
      if (!seen.insert(key).second) fail(where_ + " has '" + key + "' twice");
  }
  const Json* optional(std::string_view key, Json::Kind kind, std::string_view kind_name) {
    taken_.insert(key);
    for (const auto& [k, v] : object_.members) {
      if (k != key) continue;
      if (v.kind != kind) fail(where_ + "." + k + " is not " + std::string(kind_name));
      return &v;
    }
    return nullptr;
  }
  const Json& get(std::string_view key, Json::Kind kind, std::string_view kind_name) {
    const Json* v = optional(key, kind, kind_name);
    if (v == nullptr) fail(where_ + " has no '" + std::string(key) + "'");
    return *v;
  }
  std::uint64_t count(std::string_view key) { return get(key, Json::Kind::number, "a count").number; }
  const std::string& text(std::string_view key) { return get(key, Json::Kind::string, "a string").string; }
  void done() const {
    for (const auto& [k, v] : object_.members)
      if (taken_.count(k) == 0) fail(where_ + " has '" + k + "', which this version does not know");
  }

 private:
  const Json& object_;
  std::string where_;
  std::set<std::string_view> taken_;
};

std::uint64_t hex_value(std::string_view digits, std::string_view where) {
  std::uint64_t v = 0;
  for (char c : digits) {
    int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    if (d < 0) fail(std::string(where) + " has '" + c + "', not a lower-case hex digit");
    v = v << 4 | static_cast<std::uint64_t>(d);
  }
  return v;
}

}  // namespace

std::string Coverage::json() const {
  const State& s = *s_;
  std::string out = "{\"format\": " + quoted(kFormat) + ", \"runs\": " + std::to_string(s.runs) +
                    ", \"distinct_schedules\": " + std::to_string(s.schedules.count()) +
                    ", \"distinct_exact\": " + (s.schedules.is_exact() ? "true" : "false") + ",\n";
  if (s.schedules.is_exact()) {
    out += " \"schedule_hashes\": \"";
    for (std::uint64_t h : s.schedules.sorted_hashes()) append_hex(out, h, 16);
  } else {
    out += " \"schedule_registers\": \"";
    for (std::uint8_t r : s.schedules.registers) append_hex(out, r, 2);
  }
  out += "\",\n \"points_reached\": [";
  bool first = true;
  for (const std::string& name : points_reached())
    out += (std::exchange(first, false) ? "" : ", ") + quoted(name);
  out += "],\n \"windows\": [";
  std::vector<const WindowRow*> rows;
  for (const WindowRow& row : s.rows) rows.push_back(&row);
  auto names = [&s](const WindowRow* r) {
    return std::tie(name_of(s.tasks, r->key.task), name_of(s.points, r->key.from),
                    name_of(s.points, r->key.to));
  };
  std::sort(rows.begin(), rows.end(),
            [&](const WindowRow* a, const WindowRow* b) { return names(a) < names(b); });
  first = true;
  for (const WindowRow* row : rows) {
    out += std::exchange(first, false) ? "\n  " : ",\n  ";
    out += "{\"task\": " + quoted(name_of(s.tasks, row->key.task)) +
           ", \"from\": " + quoted(name_of(s.points, row->key.from)) +
           ", \"to\": " + quoted(name_of(s.points, row->key.to)) +
           ", \"runs\": " + std::to_string(row->runs) + ", \"entered\": " + std::to_string(row->entered) +
           ", \"by\": {";
    std::vector<std::pair<std::string, std::uint64_t>> by;
    for (const EnteredBy& b : row->by) by.emplace_back(s.tasks.names[b.task], b.runs);
    std::sort(by.begin(), by.end());
    for (std::size_t i = 0; i < by.size(); ++i)
      out += (i == 0 ? "" : ", ") + quoted(by[i].first) + ": " + std::to_string(by[i].second);
    out += "}}";
  }
  return out + (rows.empty() ? "]}\n" : "\n ]}\n");
}

Coverage Coverage::from_json(std::string_view text) {
  Json doc = Parser(text).document();
  Fields top(doc, "the report");
  if (top.text("format") != kFormat)
    fail("format is '" + top.text("format") + "', expected '" + std::string(kFormat) + "'");
  Coverage cov;
  State& s = *cov.s_;
  s.runs = top.count("runs");
  const Json* hashes = top.optional("schedule_hashes", Json::Kind::string, "a string");
  const Json* registers = top.optional("schedule_registers", Json::Kind::string, "a string");
  if ((hashes == nullptr) == (registers == nullptr))
    fail("the report needs exactly one of schedule_hashes and schedule_registers");
  if (hashes != nullptr) {
    const std::string& h = hashes->string;
    if (h.size() % 16 != 0) fail("schedule_hashes is not a whole number of 16-digit hashes");
    if (h.size() / 16 > kExactSchedulesMax)
      fail("schedule_hashes holds more than " + std::to_string(kExactSchedulesMax) + " hashes");
    std::uint64_t previous = 0;
    for (std::size_t i = 0; i < h.size(); i += 16) {
      std::uint64_t v = hex_value(std::string_view(h).substr(i, 16), "schedule_hashes");
      if (i != 0 && v <= previous) fail("schedule_hashes is not sorted and unique");
      s.schedules.add(previous = v);
    }
  } else {
    const std::string& r = registers->string;
    if (r.size() != 2 * ScheduleSet::kRegisters)
      fail("schedule_registers has " + std::to_string(r.size()) + " digits, expected " +
           std::to_string(2 * ScheduleSet::kRegisters));
    s.schedules.registers.resize(ScheduleSet::kRegisters);
    for (std::size_t i = 0; i < ScheduleSet::kRegisters; ++i) {
      std::uint64_t v = hex_value(std::string_view(r).substr(2 * i, 2), "schedule_registers");
      if (v > ScheduleSet::kRankMax)
        fail("schedule_registers has a register above " + std::to_string(ScheduleSet::kRankMax));
      s.schedules.registers[i] = static_cast<std::uint8_t>(v);
    }
  }
  if (top.count("distinct_schedules") != s.schedules.count())
    fail("distinct_schedules does not match the schedules it carries");
  if (top.get("distinct_exact", Json::Kind::boolean, "true or false").boolean != s.schedules.is_exact())
    fail("distinct_exact does not match the schedules it carries");
  for (const Json& p : top.get("points_reached", Json::Kind::array, "an array").items) {
    if (p.kind != Json::Kind::string || p.string == kAnyName)
      fail("points_reached holds something not a point name");
    bool fresh = false;
    s.points.intern(p.string, &fresh);
    if (!fresh) fail("points_reached lists '" + p.string + "' twice");
    s.reached.push_back(1);
  }
  std::set<std::tuple<std::uint32_t, std::uint32_t, std::uint32_t>> seen;
  const auto& windows = top.get("windows", Json::Kind::array, "an array").items;
  for (std::size_t i = 0; i < windows.size(); ++i) {
    const std::string where = "windows[" + std::to_string(i) + "]";
    Fields w(windows[i], where);
    const std::string& task = w.text("task");
    auto point = [&](std::string_view key) {
      const std::string& name = w.text(key);
      if (name == kAnyName) return kAny;
      std::uint32_t id = s.points.find(name);
      if (id == kAny) fail(where + "." + std::string(key) + " '" + name + "' is not in points_reached");
      return id;
    };
    WindowKey key{task == kAnyName ? kAny : s.tasks.intern(task), point("from"), point("to")};
    if (key.from == kAny || (key.to == kAny && key.task != kAny))
      fail(where + " has '*' where a point belongs");
    if (!seen.insert({key.task, key.from, key.to}).second) fail(where + " repeats an earlier window");
    WindowRow& row = s.rows[s.row(key)];
    row.runs = w.count("runs");
    row.entered = w.count("entered");
    if (row.runs > s.runs || row.entered > row.runs) fail(where + " counts more runs than there were");
    const Json& by = w.get("by", Json::Kind::object, "an object");
    if (key.task == kAny && !by.members.empty()) fail(where + " counts tasks for a window of any task");
    for (const auto& [name, n] : by.members) {
      if (n.kind != Json::Kind::number || n.number > row.entered || name == task || name == kAnyName)
        fail(where + ".by." + name + " is not a count of runs entered by another task");
      row.by.push_back(EnteredBy{s.tasks.intern(name), n.number, 0});
    }
    w.done();
  }
  top.done();
  return cov;
}

}  // namespace racelab
