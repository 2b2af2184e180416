// libFuzzer target: the safetensors header parser (checkpoint/json_parser.cc) on arbitrary bytes, then the same
// bytes as the header of a safetensors file with 256 bytes of data, through the safetensors reader (what it checks
// of dtypes, shapes and data_offsets). Any input must give a value / tensors or a JsonError / CheckpointError.
// Seeds: the headers of the real safetensors files in test/fixtures/generated (native/fuzz/make_seeds.py).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "checkpoint/checkpoint_reader.h"
#include "checkpoint/json_parser.h"
#include "common/errors.h"
#include "fuzz_support.h"

namespace {

using namespace vitorch::checkpoint;

// Every value the parser returns must be well formed: an object has as many keys as values.
void check(const JsonValue& value, size_t depth) {
  if (depth > JsonLimits{}.max_depth + 1) __builtin_trap();
  if (value.kind == JsonValue::Kind::kObject && value.keys.size() != value.items.size()) __builtin_trap();
  if (value.kind != JsonValue::Kind::kObject && !value.keys.empty()) __builtin_trap();
  for (const JsonValue& item : value.items) check(item, depth + 1);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view header(reinterpret_cast<const char*>(data), size);
  try {
    check(parse_json(header), 0);
  } catch (const JsonError&) {
  }

  std::string file(8, '\0');
  for (int i = 0; i < 8; ++i) file[i] = static_cast<char>((uint64_t{size} >> (8 * i)) & 0xFF);
  file.append(header);
  file.append(256, '\x01');
  const std::string& path = vitorch::fuzz::input_as_file(reinterpret_cast<const uint8_t*>(file.data()), file.size());
  try {
    (void)load_checkpoint_file(path);
  } catch (const vitorch::CheckpointError&) {
  }
  return 0;
}
