// Writing the safetensors format (https://github.com/huggingface/safetensors), streamed tensor by tensor.
//
// Layout: an 8-byte little-endian length N, N bytes of JSON header, then every tensor's bytes back to back:
//   {"__metadata__":{"k":"v",...},"<name>":{"dtype":"F32","shape":[2,3],"data_offsets":[begin,end]},...}
// Offsets are relative to the first data byte; the tensors are contiguous, in the given order, with no gaps, and
// together they end the file (the safetensors loader checks all of this). The header is padded with spaces so the
// data starts at an 8-byte-aligned offset, as the reference writer does. __metadata__ is omitted when empty.
#pragma once

#include <c10/core/ScalarType.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "checkpoint/atomic_file_writer.h"
#include "checkpoint/checkpoint_reader.h"

namespace vitorch::checkpoint {

// `text` as a JSON string literal, quotes included. `text` must be valid UTF-8 (the caller checks); non-ASCII
// characters are kept as they are, control characters, quotes and backslashes are escaped.
std::string json_string(const std::string& text);

class SafetensorsWriter {
 public:
  // Writes the length and the header for `tensors` (metadata only is read; names unique, not "__metadata__",
  // dtypes supported, names and metadata valid UTF-8: the caller validates).
  SafetensorsWriter(AtomicFileWriter& file, const NamedTensors& tensors,
                    const std::map<std::string, std::string>& metadata);

  // Writes the next tensor's bytes: `size` must be what the header promised for it.
  void write_tensor_data(const void* data, uint64_t size);

  // Checks that every tensor the header lists has been written.
  void finish() const;

 private:
  AtomicFileWriter& file_;
  std::vector<uint64_t> byte_sizes_;  // per tensor, in order
  size_t written_ = 0;
};

}  // namespace vitorch::checkpoint
