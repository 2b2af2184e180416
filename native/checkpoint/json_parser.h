// A small strict JSON parser (RFC 8259) for the safetensors header.
//
// The input is untrusted, so the parser is bounded: nesting deeper than JsonLimits::max_depth and more values than
// JsonLimits::max_values are errors (recursion depth is at most max_depth, memory a small multiple of the input).
// It is strict: only JSON's own whitespace, no trailing commas, no comments, strings must be valid UTF-8 with
// unescaped characters >= 0x20, \u escapes must pair their surrogates, and an object may not repeat a key.
// Integers must fit in int64; other numbers are kept as their text (kFloat), which is all safetensors needs.
// Pure C++, no torch.
//
// Why our own rather than nlohmann/json or simdjson: a source build on a user's machine (npm install without a
// prebuilt) can count on a compiler, cmake, npm packages and libtorch's headers, and none of them ships a JSON
// parser (no release 2.9-2.15 of the torch wheel has nlohmann/json.hpp), so a library would have to be vendored
// (nlohmann's single header is ~25k lines) or become a system dependency. This one is small, does what a hostile
// header needs and nlohmann does not do by default (refuse a repeated key instead of keeping the last, which would
// let two readers see different tensors; bound the value count as well as the depth), and is fuzzed
// (native/fuzz/fuzz_safetensors_header.cc) and unit-tested (native/tests/parser_test.cc).
#pragma once

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace vitorch::checkpoint {

struct JsonValue {
  enum class Kind { kNull, kBool, kInteger, kFloat, kString, kArray, kObject };

  Kind kind = Kind::kNull;
  bool boolean = false;           // kBool
  int64_t integer = 0;            // kInteger
  std::string text;               // kString: the decoded UTF-8; kFloat: the number as written
  std::vector<JsonValue> items;   // kArray: the elements; kObject: the members' values
  std::vector<std::string> keys;  // kObject: the members' keys (unique), in document order, matching `items`
};

struct JsonLimits {
  size_t max_depth = 64;                // arrays / objects nested in one another
  size_t max_values = size_t{1} << 20;  // values of any kind in the document
};

// A syntax error or an exceeded limit; `offset` is the byte of the input where it was found.
class JsonError : public std::runtime_error {
 public:
  JsonError(size_t offset, const std::string& message)
      : std::runtime_error(message + " at byte " + std::to_string(offset)), offset_(offset) {}
  size_t offset() const { return offset_; }

 private:
  size_t offset_;
};

// Parses `text`, which must hold exactly one JSON value, optionally surrounded by whitespace.
JsonValue parse_json(std::string_view text, const JsonLimits& limits = {});

// The JSON name of a kind, with an article, for messages: "an object", "a string", "null".
const char* describe_json_kind(JsonValue::Kind kind);

}  // namespace vitorch::checkpoint
