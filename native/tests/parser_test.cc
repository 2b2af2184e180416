// The parsers of untrusted bytes on their own: the safetensors header's JSON parser and the pickle machine.
#include <gtest/gtest.h>

#include <string>

#include "checkpoint/json_parser.h"
#include "checkpoint/pickle_input.h"
#include "checkpoint/unpickler.h"
#include "common/describe.h"
#include "test_support.h"

namespace vitorch::checkpoint {
namespace {

using testing::checkpoint_error_of;

std::string json_error_of(const std::string& text, const JsonLimits& limits = {}) {
  try {
    parse_json(text, limits);
  } catch (const JsonError& error) {
    return error.what();
  }
  ADD_FAILURE() << "expected a JsonError for " << text;
  return {};
}

TEST(JsonParser, ParsesASafetensorsHeader) {
  const JsonValue root = parse_json(
      R"( {"__metadata__": {"format": "pt"}, "w": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]}} )");
  ASSERT_EQ(root.kind, JsonValue::Kind::kObject);
  ASSERT_EQ(root.keys, (std::vector<std::string>{"__metadata__", "w"}));
  const JsonValue& w = root.items[1];
  EXPECT_EQ(w.items[0].text, "F32");
  EXPECT_EQ(w.items[1].items[1].integer, 3);
  EXPECT_EQ(w.items[2].items[1].integer, 24);
}

TEST(JsonParser, DecodesEscapesAndSurrogatePairs) {
  EXPECT_EQ(parse_json(R"("a\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00")").text, "a\"\\/\b\f\n\r\t\xC3\xA9\xF0\x9F\x98\x80");
}

TEST(JsonParser, KeepsNonIntegersAsText) {
  EXPECT_EQ(parse_json("-1.5e3").kind, JsonValue::Kind::kFloat);
  EXPECT_EQ(parse_json("-1.5e3").text, "-1.5e3");
  EXPECT_EQ(parse_json("9223372036854775807").integer, INT64_MAX);
  EXPECT_EQ(parse_json("-9223372036854775808").integer, INT64_MIN);
}

TEST(JsonParser, EnforcesTheDepthLimit) {
  JsonLimits limits;
  limits.max_depth = 64;
  EXPECT_NO_THROW(parse_json(std::string(64, '[') + std::string(64, ']'), limits));
  EXPECT_NE(json_error_of(std::string(65, '[') + std::string(65, ']'), limits).find("at byte 64"), std::string::npos);
  // Far deeper than the stack would take, were the limit not checked before recursing.
  EXPECT_FALSE(json_error_of(std::string(1 << 20, '[')).empty());
  EXPECT_FALSE(json_error_of(std::string(1 << 20, '{')).empty());
}

TEST(JsonParser, EnforcesTheValueLimit) {
  JsonLimits limits;
  limits.max_values = 4;
  EXPECT_NO_THROW(parse_json("[1, 2, 3]", limits));  // the array and its three items
  EXPECT_FALSE(json_error_of("[1, 2, 3, 4]", limits).empty());
}

TEST(JsonParser, IsStrict) {
  for (const char* text : {"",
                           " ",
                           "[1,]",
                           "{\"a\":1,}",
                           "{\"a\":1,\"a\":2}",
                           "01",
                           "1.",
                           ".5",
                           "+1",
                           "NaN",
                           "[1] x",
                           "\"\x01\"",
                           "\"\xC0\xAF\"",
                           "\"\\ud800\"",
                           "\"\\udc00\\ud800\"",
                           "'a'",
                           "/* */ 1",
                           "9223372036854775808",
                           "{1: 2}",
                           "tru",
                           "\"\\x41\""}) {
    SCOPED_TRACE(text);
    EXPECT_FALSE(json_error_of(text).empty());
  }
}

UnpickledTree unpickle_bytes(const std::string& bytes, PersistentIds ids = PersistentIds::kZipStorages) {
  MemoryPickleInput input(bytes);
  UnpickleContext context;
  context.file_path = "test.pkl";
  context.source = "a test pickle";
  context.persistent_ids = ids;
  return unpickle(input, context);
}

TEST(Unpickler, ReadsPlainValues) {
  // pickle.dumps({'a': [1, 'x']}, protocol=2)
  const std::string bytes(
      "\x80\x02}q\x00X\x01\x00\x00\x00"
      "aq\x01]q\x02(K\x01X\x01\x00\x00\x00xq\x03"
      "es.",
      30);
  const UnpickledTree tree = unpickle_bytes(bytes);
  ASSERT_EQ(tree.root->kind, PickleValue::Kind::kDict);
  ASSERT_EQ(tree.root->entries.size(), 1u);
  EXPECT_EQ(tree.root->entries[0].first->text, "a");
  const PickleValue& list = *tree.root->entries[0].second;
  ASSERT_EQ(list.kind, PickleValue::Kind::kList);
  ASSERT_EQ(list.items.size(), 2u);
  EXPECT_EQ(list.items[0]->integer, 1);
  EXPECT_EQ(list.items[1]->text, "x");
}

TEST(Unpickler, RefusesDisallowedGlobalsByName) {
  // GLOBAL 'os system', then a call: refused at GLOBAL, before REDUCE could run anything.
  for (const std::string& pickle : {std::string("\x80\x02"
                                                "cos\nsystem\nX\x02\x00\x00\x00id\x85R.",
                                                23),
                                    std::string("\x80\x02"
                                                "cbuiltins\neval\n.",
                                                18),
                                    std::string("\x80\x04\x8c\x02os\x8c\x06system\x93.", 16)}) {
    const std::string message = checkpoint_error_of([&] { unpickle_bytes(pickle); });
    EXPECT_NE(message.find("refusing to load global"), std::string::npos) << message;
    EXPECT_EQ(message.find("test.pkl: "), 0u) << message;
  }
}

TEST(Unpickler, RefusesAPickleWithoutStop) {
  const std::string message = checkpoint_error_of([&] { unpickle_bytes(std::string("\x80\x02}", 3)); });
  EXPECT_NE(message.find("without a STOP opcode"), std::string::npos) << message;
}

TEST(Unpickler, RefusesPoppingBelowAMark) {
  // MARK then TUPLE1: TUPLE1 may not reach below the MARK.
  EXPECT_FALSE(checkpoint_error_of([&] { unpickle_bytes(std::string("\x80\x02K\x01(\x85.", 7)); }).empty());
}

TEST(Describe, FormatsNumbersAsMessagesShowThem) {
  EXPECT_EQ(format_number(0.1), "0.1");
  EXPECT_EQ(format_number(1e-5), "1e-05");
  EXPECT_EQ(format_number(3), "3");
  EXPECT_EQ(format_shape({1, 3, 224, 224}), "[1, 3, 224, 224]");
}

}  // namespace
}  // namespace vitorch::checkpoint
