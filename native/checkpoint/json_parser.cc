// The bounded JSON parser (see json_parser.h): recursive descent, one function per grammar rule, with the depth
// counted on the way down.
#include "checkpoint/json_parser.h"

#include <algorithm>
#include <cstdio>

namespace vitorch::checkpoint {

namespace {

class Parser {
 public:
  Parser(std::string_view text, const JsonLimits& limits) : text_(text), limits_(limits) {}

  JsonValue parse_document() {
    skip_whitespace();
    JsonValue value = parse_value(0);
    skip_whitespace();
    if (position_ != text_.size()) fail("unexpected " + describe_next() + " after the JSON value");
    return value;
  }

 private:
  [[noreturn]] void fail(const std::string& message) const { throw JsonError(position_, message); }

  bool at_end() const { return position_ >= text_.size(); }
  unsigned char peek() const { return static_cast<unsigned char>(text_[position_]); }

  std::string describe_next() const {
    if (at_end()) return "end of input";
    const unsigned char byte = peek();
    char text[24];
    if (byte >= 0x20 && byte < 0x7f) {
      std::snprintf(text, sizeof text, "character '%c'", byte);
    } else {
      std::snprintf(text, sizeof text, "byte 0x%02x", byte);
    }
    return text;
  }

  void skip_whitespace() {
    while (!at_end()) {
      const unsigned char byte = peek();
      if (byte != ' ' && byte != '\t' && byte != '\n' && byte != '\r') return;
      ++position_;
    }
  }

  void expect(char wanted, const char* what) {
    if (at_end() || text_[position_] != wanted) fail(std::string("expected ") + what + ", found " + describe_next());
    ++position_;
  }

  void count_value() {
    if (++value_count_ > limits_.max_values) {
      fail("more than " + std::to_string(limits_.max_values) + " values");
    }
  }

  JsonValue parse_value(size_t depth) {
    if (at_end()) fail("expected a value, found end of input");
    count_value();
    const unsigned char byte = peek();
    switch (byte) {
      case '{': return parse_object(depth + 1);
      case '[': return parse_array(depth + 1);
      case '"': {
        JsonValue value;
        value.kind = JsonValue::Kind::kString;
        value.text = parse_string();
        return value;
      }
      case 't': return parse_literal("true", JsonValue::Kind::kBool, true);
      case 'f': return parse_literal("false", JsonValue::Kind::kBool, false);
      case 'n': return parse_literal("null", JsonValue::Kind::kNull, false);
      default:
        if (byte == '-' || (byte >= '0' && byte <= '9')) return parse_number();
        fail("expected a value, found " + describe_next());
    }
  }

  JsonValue parse_literal(std::string_view word, JsonValue::Kind kind, bool boolean) {
    if (text_.substr(position_, word.size()) != word) fail("expected a value, found " + describe_next());
    position_ += word.size();
    JsonValue value;
    value.kind = kind;
    value.boolean = boolean;
    return value;
  }

  void check_depth(size_t depth) const {
    if (depth > limits_.max_depth) fail("nesting deeper than " + std::to_string(limits_.max_depth) + " levels");
  }

  JsonValue parse_array(size_t depth) {
    check_depth(depth);
    ++position_;  // '['
    JsonValue array;
    array.kind = JsonValue::Kind::kArray;
    skip_whitespace();
    if (!at_end() && peek() == ']') {
      ++position_;
      return array;
    }
    while (true) {
      skip_whitespace();
      array.items.push_back(parse_value(depth));
      skip_whitespace();
      if (!at_end() && peek() == ',') {
        ++position_;
        continue;
      }
      expect(']', "',' or ']' in an array");
      return array;
    }
  }

  JsonValue parse_object(size_t depth) {
    check_depth(depth);
    const size_t start = position_;
    ++position_;  // '{'
    JsonValue object;
    object.kind = JsonValue::Kind::kObject;
    skip_whitespace();
    if (!at_end() && peek() == '}') {
      ++position_;
      return object;
    }
    while (true) {
      skip_whitespace();
      if (at_end() || peek() != '"') fail("expected a string key in an object, found " + describe_next());
      object.keys.push_back(parse_string());
      skip_whitespace();
      expect(':', "':' after an object key");
      skip_whitespace();
      object.items.push_back(parse_value(depth));
      skip_whitespace();
      if (!at_end() && peek() == ',') {
        ++position_;
        continue;
      }
      expect('}', "',' or '}' in an object");
      break;
    }
    check_unique_keys(object.keys, start);
    return object;
  }

  // Sorting indexes rather than inserting into a set: no copies of the keys, O(n log n) for any input.
  static void check_unique_keys(const std::vector<std::string>& keys, size_t object_start) {
    std::vector<size_t> order(keys.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(), [&keys](size_t a, size_t b) { return keys[a] < keys[b]; });
    for (size_t i = 1; i < order.size(); ++i) {
      if (keys[order[i]] == keys[order[i - 1]]) {
        std::string shown;
        for (const char c : keys[order[i]].substr(0, 100)) {
          shown += (static_cast<unsigned char>(c) < 0x20) ? '?' : c;
        }
        throw JsonError(object_start, "the object starting here has the key \"" + shown + "\" twice");
      }
    }
  }

  JsonValue parse_number() {
    const size_t start = position_;
    const bool negative = peek() == '-';
    if (negative) ++position_;
    if (at_end() || peek() < '0' || peek() > '9') fail("expected a digit, found " + describe_next());
    // Accumulated as a negative number, which reaches down to INT64_MIN.
    int64_t magnitude = 0;
    bool overflow = false;
    if (peek() == '0') {
      ++position_;
      if (!at_end() && peek() >= '0' && peek() <= '9') fail("a number may not have a leading zero");
    } else {
      while (!at_end() && peek() >= '0' && peek() <= '9') {
        const int digit = peek() - '0';
        if (__builtin_mul_overflow(magnitude, 10, &magnitude) || __builtin_sub_overflow(magnitude, digit, &magnitude)) {
          overflow = true;
        }
        ++position_;
      }
    }
    bool is_float = false;
    if (!at_end() && peek() == '.') {
      is_float = true;
      ++position_;
      skip_digits("a digit after '.'");
    }
    if (!at_end() && (peek() == 'e' || peek() == 'E')) {
      is_float = true;
      ++position_;
      if (!at_end() && (peek() == '+' || peek() == '-')) ++position_;
      skip_digits("a digit in the exponent");
    }
    JsonValue value;
    if (is_float) {
      value.kind = JsonValue::Kind::kFloat;
      value.text = std::string(text_.substr(start, position_ - start));
      return value;
    }
    if (!negative && !overflow && __builtin_sub_overflow(int64_t{0}, magnitude, &magnitude)) overflow = true;
    if (overflow) throw JsonError(start, "integer out of the 64-bit range");
    value.kind = JsonValue::Kind::kInteger;
    value.integer = magnitude;
    return value;
  }

  void skip_digits(const char* what) {
    if (at_end() || peek() < '0' || peek() > '9') fail(std::string("expected ") + what + ", found " + describe_next());
    while (!at_end() && peek() >= '0' && peek() <= '9') ++position_;
  }

  // ---- strings --------------------------------------------------------------------------------------------------

  std::string parse_string() {
    ++position_;  // '"'
    std::string out;
    while (true) {
      if (at_end()) fail("unterminated string");
      const unsigned char byte = peek();
      if (byte == '"') {
        ++position_;
        return out;
      }
      if (byte == '\\') {
        parse_escape(out);
      } else if (byte < 0x20) {
        fail("unescaped control character in a string");
      } else if (byte < 0x80) {
        out.push_back(static_cast<char>(byte));
        ++position_;
      } else {
        copy_utf8_sequence(out);
      }
    }
  }

  void parse_escape(std::string& out) {
    ++position_;  // '\'
    if (at_end()) fail("unterminated string");
    const char kind = static_cast<char>(peek());
    ++position_;
    switch (kind) {
      case '"': out.push_back('"'); return;
      case '\\': out.push_back('\\'); return;
      case '/': out.push_back('/'); return;
      case 'b': out.push_back('\b'); return;
      case 'f': out.push_back('\f'); return;
      case 'n': out.push_back('\n'); return;
      case 'r': out.push_back('\r'); return;
      case 't': out.push_back('\t'); return;
      case 'u': break;
      default: position_ -= 2; fail("invalid escape in a string");
    }
    uint32_t code = read_hex4();
    if (code >= 0xDC00 && code <= 0xDFFF) {
      position_ -= 6;
      fail("\\u escape is a lone low surrogate");
    }
    if (code >= 0xD800 && code <= 0xDBFF) {
      if (text_.substr(position_, 2) != "\\u") {
        position_ -= 6;
        fail("\\u escape is a high surrogate not followed by a low one");
      }
      position_ += 2;
      const uint32_t low = read_hex4();
      if (low < 0xDC00 || low > 0xDFFF) {
        position_ -= 6;
        fail("\\u escape after a high surrogate is not a low surrogate");
      }
      code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
    }
    append_utf8(out, code);
  }

  uint32_t read_hex4() {
    if (text_.size() - position_ < 4) fail("\\u escape needs 4 hex digits");
    uint32_t code = 0;
    for (int i = 0; i < 4; ++i) {
      const unsigned char c = peek();
      uint32_t digit;
      if (c >= '0' && c <= '9') {
        digit = c - '0';
      } else if (c >= 'a' && c <= 'f') {
        digit = c - 'a' + 10;
      } else if (c >= 'A' && c <= 'F') {
        digit = c - 'A' + 10;
      } else {
        fail("\\u escape needs 4 hex digits");
      }
      code = (code << 4) | digit;
      ++position_;
    }
    return code;
  }

  static void append_utf8(std::string& out, uint32_t code) {
    if (code < 0x80) {
      out.push_back(static_cast<char>(code));
    } else if (code < 0x800) {
      out.push_back(static_cast<char>(0xC0 | (code >> 6)));
      out.push_back(static_cast<char>(0x80 | (code & 0x3F)));
    } else if (code < 0x10000) {
      out.push_back(static_cast<char>(0xE0 | (code >> 12)));
      out.push_back(static_cast<char>(0x80 | ((code >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (code & 0x3F)));
    } else {
      out.push_back(static_cast<char>(0xF0 | (code >> 18)));
      out.push_back(static_cast<char>(0x80 | ((code >> 12) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | ((code >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (code & 0x3F)));
    }
  }

  // One multi-byte UTF-8 character, checked to be well-formed (no overlong forms, no surrogates, <= U+10FFFF).
  void copy_utf8_sequence(std::string& out) {
    const unsigned char lead = peek();
    size_t length;
    unsigned char low = 0x80;  // the allowed range of the second byte
    unsigned char high = 0xBF;
    if (lead >= 0xC2 && lead <= 0xDF) {
      length = 2;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
      length = 3;
      if (lead == 0xE0) low = 0xA0;
      if (lead == 0xED) high = 0x9F;
    } else if (lead >= 0xF0 && lead <= 0xF4) {
      length = 4;
      if (lead == 0xF0) low = 0x90;
      if (lead == 0xF4) high = 0x8F;
    } else {
      fail("invalid UTF-8 in a string");
    }
    if (text_.size() - position_ < length) fail("invalid UTF-8 in a string");
    for (size_t i = 1; i < length; ++i) {
      const auto byte = static_cast<unsigned char>(text_[position_ + i]);
      const unsigned char min = i == 1 ? low : 0x80;
      const unsigned char max = i == 1 ? high : 0xBF;
      if (byte < min || byte > max) fail("invalid UTF-8 in a string");
    }
    out.append(text_.data() + position_, length);
    position_ += length;
  }

  std::string_view text_;
  const JsonLimits& limits_;
  size_t position_ = 0;
  size_t value_count_ = 0;
};

}  // namespace

JsonValue parse_json(std::string_view text, const JsonLimits& limits) { return Parser(text, limits).parse_document(); }

const char* describe_json_kind(JsonValue::Kind kind) {
  switch (kind) {
    case JsonValue::Kind::kNull: return "null";
    case JsonValue::Kind::kBool: return "a boolean";
    case JsonValue::Kind::kInteger: return "an integer";
    case JsonValue::Kind::kFloat: return "a non-integer number";
    case JsonValue::Kind::kString: return "a string";
    case JsonValue::Kind::kArray: return "an array";
    case JsonValue::Kind::kObject: return "an object";
  }
  return "a value";
}

}  // namespace vitorch::checkpoint
