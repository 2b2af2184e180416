// The safetensors reader (see safetensors_reader.h): check the header length, parse the JSON header, check every
// entry and that no two overlap, then index each tensor's bytes (CheckpointIndex reads them, straight into the
// tensor).
#include "checkpoint/safetensors_reader.h"

#include <algorithm>
#include <cstdio>
#include <new>
#include <string>
#include <vector>

#include "checkpoint/json_parser.h"
#include "checkpoint/message_text.h"
#include "checkpoint/safetensors_dtypes.h"
#include "checkpoint/storage_checks.h"
#include "common/describe.h"
#include "common/errors.h"

namespace vitorch::checkpoint {

namespace {

const std::string kMetadataKey = "__metadata__";

// More dimensions than any real tensor has (the same bound as for torch.save files).
constexpr size_t kMaxDimensions = 64;

// Some 116k tensors' worth of header values (an entry is about 9); bounds the parsed header's memory.
constexpr size_t kMaxHeaderValues = size_t{1} << 20;

struct Entry {
  std::string name;
  c10::ScalarType dtype;
  std::vector<int64_t> sizes;
  uint64_t begin;  // relative to the data section
  uint64_t end;
};

std::string size_text(uint64_t bytes) {
  char text[48];
  if (bytes >= (uint64_t{1} << 30)) {
    std::snprintf(text, sizeof text, " (%.1f GB)", static_cast<double>(bytes) / (1 << 30));
    return text;
  }
  if (bytes >= (uint64_t{1} << 20)) {
    std::snprintf(text, sizeof text, " (%.1f MB)", static_cast<double>(bytes) / (1 << 20));
    return text;
  }
  return "";
}

class HeaderReader {
 public:
  HeaderReader(const RandomAccessFile& file, uint64_t data_size) : file_(file), data_size_(data_size) {}

  // The member of `object` called `field`, or nullptr.
  static const JsonValue* member(const JsonValue& object, const std::string& field) {
    for (size_t i = 0; i < object.keys.size(); ++i) {
      if (object.keys[i] == field) return &object.items[i];
    }
    return nullptr;
  }

  void read_metadata(const JsonValue& value, std::vector<std::pair<std::string, std::string>>& metadata) const {
    if (value.kind != JsonValue::Kind::kObject) {
      file_.fail("corrupt safetensors header (" + kMetadataKey + " is " + describe_json_kind(value.kind) +
                 ", not an object of strings)");
    }
    for (size_t i = 0; i < value.keys.size(); ++i) {
      if (value.items[i].kind != JsonValue::Kind::kString) {
        file_.fail("corrupt safetensors header (" + kMetadataKey + " value of '" + printable(value.keys[i]) + "' is " +
                   describe_json_kind(value.items[i].kind) + "; metadata values must be strings)");
      }
      metadata.emplace_back(value.keys[i], value.items[i].text);
    }
  }

  Entry read_entry(const std::string& name, const JsonValue& value) const {
    const std::string what = "tensor '" + printable(name) + "'";
    if (value.kind != JsonValue::Kind::kObject) {
      file_.fail("corrupt safetensors header (" + what + " is described by " + describe_json_kind(value.kind) +
                 ", not an object)");
    }
    Entry entry{name, read_dtype(what, required(what, value, "dtype")), {}, 0, 0};

    const JsonValue& shape = required(what, value, "shape");
    if (shape.kind != JsonValue::Kind::kArray) {
      file_.fail("corrupt safetensors header (" + what + " has a shape that is " + describe_json_kind(shape.kind) +
                 ", not an array)");
    }
    if (shape.items.size() > kMaxDimensions) {
      file_.fail("corrupt safetensors header (" + what + " has " + std::to_string(shape.items.size()) +
                 " dimensions; at most " + std::to_string(kMaxDimensions) + " are supported)");
    }
    int64_t element_count = 1;
    for (const JsonValue& size : shape.items) {
      if (size.kind != JsonValue::Kind::kInteger || size.integer < 0) {
        file_.fail("corrupt safetensors header (" + what + " has a shape entry that is not an integer >= 0)");
      }
      if (__builtin_mul_overflow(element_count, size.integer, &element_count)) {
        file_.fail("corrupt safetensors header (" + what + " has an impossibly large shape)");
      }
      entry.sizes.push_back(size.integer);
    }

    const JsonValue& offsets = required(what, value, "data_offsets");
    if (offsets.kind != JsonValue::Kind::kArray || offsets.items.size() != 2 ||
        offsets.items[0].kind != JsonValue::Kind::kInteger || offsets.items[1].kind != JsonValue::Kind::kInteger ||
        offsets.items[0].integer < 0 || offsets.items[1].integer < offsets.items[0].integer) {
      file_.fail("corrupt safetensors header (" + what +
                 " needs data_offsets [begin, end] with integers 0 <= begin <= end)");
    }
    entry.begin = static_cast<uint64_t>(offsets.items[0].integer);
    entry.end = static_cast<uint64_t>(offsets.items[1].integer);
    if (entry.end > data_size_) {
      file_.fail("corrupt safetensors file (" + what + " has data_offsets [" + std::to_string(entry.begin) + ", " +
                 std::to_string(entry.end) + "], past the end of the data section, which holds " +
                 std::to_string(data_size_) + " bytes)");
    }
    const uint64_t element_size = c10::elementSize(entry.dtype);
    uint64_t byte_count = 0;
    if (__builtin_mul_overflow(static_cast<uint64_t>(element_count), element_size, &byte_count) ||
        byte_count != entry.end - entry.begin) {
      file_.fail("corrupt safetensors header (" + what + " of shape " + format_shape(entry.sizes) + " and dtype " +
                 dtype_name(entry.dtype) + " needs " + std::to_string(element_count) + " x " +
                 std::to_string(element_size) + " bytes, but its data_offsets [" + std::to_string(entry.begin) + ", " +
                 std::to_string(entry.end) + "] span " + std::to_string(entry.end - entry.begin) + ")");
    }
    return entry;
  }

 private:
  const JsonValue& required(const std::string& what, const JsonValue& object, const std::string& field) const {
    const JsonValue* value = member(object, field);
    if (value == nullptr) file_.fail("corrupt safetensors header (" + what + " has no \"" + field + "\")");
    return *value;
  }

  c10::ScalarType read_dtype(const std::string& what, const JsonValue& value) const {
    if (value.kind != JsonValue::Kind::kString) {
      file_.fail("corrupt safetensors header (" + what + " has a dtype that is " + describe_json_kind(value.kind) +
                 ", not a string)");
    }
    if (const auto dtype = dtype_from_safetensors_code(value.text)) return *dtype;
    file_.fail(what + " has dtype '" + printable(value.text, 40) +
               "', which is not supported (supported: " + kSupportedSafetensorsCodes + ")");
  }

  const RandomAccessFile& file_;
  const uint64_t data_size_;
};

// No two tensors may share bytes (empty ones occupy none).
void check_no_overlap(const RandomAccessFile& file, const std::vector<Entry>& entries) {
  std::vector<const Entry*> by_offset;
  by_offset.reserve(entries.size());
  for (const Entry& entry : entries) {
    if (entry.end > entry.begin) by_offset.push_back(&entry);
  }
  std::sort(by_offset.begin(), by_offset.end(), [](const Entry* a, const Entry* b) { return a->begin < b->begin; });
  for (size_t i = 1; i < by_offset.size(); ++i) {
    const Entry& previous = *by_offset[i - 1];
    const Entry& next = *by_offset[i];
    if (next.begin < previous.end) {
      file.fail("corrupt safetensors header (tensors '" + printable(previous.name) + "' [" +
                std::to_string(previous.begin) + ", " + std::to_string(previous.end) + ") and '" +
                printable(next.name) + "' [" + std::to_string(next.begin) + ", " + std::to_string(next.end) +
                ") overlap)");
    }
  }
}

}  // namespace

bool starts_like_safetensors(const unsigned char* head, size_t size, uint64_t file_size) {
  if (size < 9 || head[6] != 0 || head[7] != 0) return false;
  const unsigned char first = head[8];
  if (first == '{') return true;
  if (first != '[' && first != ' ' && first != '\t' && first != '\n' && first != '\r') return false;
  uint64_t header_size = 0;
  for (int i = 7; i >= 0; --i) header_size = (header_size << 8) | head[i];
  return header_size >= 1 && header_size <= file_size - 8;
}

CheckpointLayout index_safetensors_checkpoint(const RandomAccessFile& file) {
  if (!host_is_little_endian()) {
    file.fail("checkpoints can only be read on little-endian machines");
  }
  if (file.size() < 8) {
    file.fail("not a safetensors file (it has " + std::to_string(file.size()) +
              " bytes, fewer than the 8-byte header length)");
  }
  unsigned char length_field[8];
  file.read_exact(0, length_field, sizeof length_field);
  uint64_t header_size = 0;
  for (int i = 7; i >= 0; --i) header_size = (header_size << 8) | length_field[i];
  if (header_size > file.size() - 8) {
    file.fail("corrupt safetensors file (the header length field claims " + std::to_string(header_size) + " bytes" +
              size_text(header_size) + ", but only " + std::to_string(file.size() - 8) + " bytes follow it)");
  }
  if (header_size > kMaxSafetensorsHeaderSize) {
    file.fail("safetensors header of " + std::to_string(header_size) + " bytes" + size_text(header_size) +
              " is larger than the " + std::to_string(kMaxSafetensorsHeaderSize >> 20) + " MB limit");
  }
  std::string header(static_cast<size_t>(header_size), '\0');
  file.read_exact(8, header.data(), header.size());

  JsonValue root;
  try {
    JsonLimits limits;
    limits.max_values = kMaxHeaderValues;
    root = parse_json(header, limits);
  } catch (const JsonError& error) {
    file.fail("corrupt safetensors header (invalid JSON: " + std::string(error.what()) + " of the header, file byte " +
              std::to_string(8 + error.offset()) + ")");
  }
  if (root.kind != JsonValue::Kind::kObject) {
    file.fail("corrupt safetensors header (it is " + std::string(describe_json_kind(root.kind)) + ", not an object)");
  }

  const uint64_t data_start = 8 + header_size;
  const HeaderReader reader(file, file.size() - data_start);
  CheckpointLayout checkpoint;
  checkpoint.format = "safetensors";
  std::vector<Entry> entries;
  entries.reserve(root.keys.size());
  for (size_t i = 0; i < root.keys.size(); ++i) {
    if (root.keys[i] == kMetadataKey) {
      reader.read_metadata(root.items[i], checkpoint.metadata);
    } else {
      entries.push_back(reader.read_entry(root.keys[i], root.items[i]));
    }
  }
  check_no_overlap(file, entries);
  // The header is no longer needed; free it before the tensors are allocated.
  root = JsonValue();
  std::string().swap(header);

  // Entries lie within the data section and do not overlap, so the tensors together take at most the file's size.
  // Each tensor is its own storage; its data is read later (CheckpointIndex).
  checkpoint.names.reserve(entries.size());
  checkpoint.tensors.reserve(entries.size());
  checkpoint.storages.reserve(entries.size());
  for (Entry& entry : entries) {
    StorageSource storage;
    storage.what = "tensor '" + printable(entry.name) + "'";
    storage.dtype = entry.dtype;
    storage.meta = torch::empty(entry.sizes, torch::TensorOptions().dtype(entry.dtype).device(torch::kMeta));
    storage.element_count = storage.meta.numel();
    storage.byte_count = entry.end - entry.begin;
    storage.position = data_start + entry.begin;
    storage.data_offset = data_start + entry.begin;
    storage.owned_by_entry = true;
    checkpoint.tensors.push_back({storage.meta, checkpoint.storages.size()});
    checkpoint.storages.push_back(std::move(storage));
    checkpoint.names.push_back(std::move(entry.name));
  }
  return checkpoint;
}

}  // namespace vitorch::checkpoint
