// SafetensorsWriter: the JSON header is built in memory (a few kB) from the tensors' metadata, then the data is
// streamed tensor by tensor.
#include "checkpoint/safetensors_writer.h"

#include <cstdio>

#include "checkpoint/safetensors_dtypes.h"
#include "common/errors.h"

namespace vitorch::checkpoint {

namespace {

// The data starts at a multiple of this (8 + header length), so every 8-byte element of the first tensor, and of
// any tensor at an aligned offset, is naturally aligned when the file is memory-mapped.
constexpr uint64_t kDataAlignment = 8;

uint64_t byte_size(const torch::Tensor& tensor) {
  return static_cast<uint64_t>(tensor.numel()) * static_cast<uint64_t>(tensor.element_size());
}

}  // namespace

std::string json_string(const std::string& text) {
  std::string out;
  out.reserve(text.size() + 2);
  out += '"';
  for (const char c : text) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        // JSON forbids raw control characters (U+0000 to U+001F) in strings; everything else may appear as is.
        if (static_cast<unsigned char>(c) < 0x20) {
          char escaped[8];
          std::snprintf(escaped, sizeof escaped, "\\u%04x", static_cast<unsigned>(static_cast<unsigned char>(c)));
          out += escaped;
        } else {
          out += c;
        }
    }
  }
  out += '"';
  return out;
}

SafetensorsWriter::SafetensorsWriter(AtomicFileWriter& file, const NamedTensors& tensors,
                                     const std::map<std::string, std::string>& metadata)
    : file_(file) {
  std::string header = "{";
  bool first = true;
  auto separate = [&] {
    if (!first) header += ',';
    first = false;
  };
  if (!metadata.empty()) {
    separate();
    header += "\"__metadata__\":{";
    bool first_entry = true;
    for (const auto& [key, value] : metadata) {
      if (!first_entry) header += ',';
      first_entry = false;
      header += json_string(key) + ':' + json_string(value);
    }
    header += '}';
  }

  uint64_t offset = 0;
  byte_sizes_.reserve(tensors.size());
  for (const auto& [name, tensor] : tensors) {
    const uint64_t size = byte_size(tensor);
    separate();
    header += json_string(name) + ":{\"dtype\":\"" + safetensors_dtype_code(tensor.scalar_type()) + "\",\"shape\":[";
    for (size_t d = 0; d < static_cast<size_t>(tensor.dim()); ++d) {
      if (d > 0) header += ',';
      header += std::to_string(tensor.size(static_cast<int64_t>(d)));
    }
    header += "],\"data_offsets\":[" + std::to_string(offset) + ',' + std::to_string(offset + size) + "]}";
    offset += size;
    byte_sizes_.push_back(size);
  }
  header += '}';
  // Trailing spaces are JSON whitespace, which the loader ignores.
  const uint64_t unaligned_end = 8 + header.size();
  header.append((kDataAlignment - unaligned_end % kDataAlignment) % kDataAlignment, ' ');

  unsigned char length[8];
  for (int i = 0; i < 8; ++i) length[i] = static_cast<unsigned char>(static_cast<uint64_t>(header.size()) >> (8 * i));
  file_.write(length, sizeof length);
  file_.write(header);
}

void SafetensorsWriter::write_tensor_data(const void* data, uint64_t size) {
  if (written_ >= byte_sizes_.size() || size != byte_sizes_[written_]) {
    throw CheckpointError(file_.target_path() + ": internal error: safetensors data does not match its header");
  }
  file_.write(data, static_cast<size_t>(size));
  ++written_;
}

void SafetensorsWriter::finish() const {
  if (written_ != byte_sizes_.size()) {
    throw CheckpointError(file_.target_path() + ": internal error: safetensors file is missing tensor data");
  }
}

}  // namespace vitorch::checkpoint
