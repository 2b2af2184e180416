// Reading safetensors files (https://github.com/huggingface/safetensors).
//
// Layout: an 8-byte little-endian header length N, N bytes of JSON (often padded with spaces), then the data. The
// header is an object whose members are
//   "<tensor name>": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}
// with offsets counted from the first byte after the header, and optionally
//   "__metadata__": {"<str>": "<str>", ...}
// Every tensor is contiguous and owns its bytes: there is no storage sharing, no strides, no pickle, and nothing
// to unwrap (the 'module.' prefix is still removed by the caller).
#pragma once

#include <cstddef>
#include <cstdint>

#include "checkpoint/checkpoint_index.h"
#include "checkpoint/random_access_file.h"

namespace vitorch::checkpoint {

// Largest header accepted, as in the reference implementation.
constexpr uint64_t kMaxSafetensorsHeaderSize = uint64_t{100} << 20;

// Whether `head` (the file's first bytes, at least 9 of them) looks like the start of a safetensors file of
// `file_size` bytes: a header length whose top two bytes are zero (so that text files never match), then '{'; or
// a length that fits in the file followed by other JSON ('[' or whitespace), which the reader then rejects with a
// message about the header. A '{' is enough whatever the length, so that an impossible length gets a message
// about the header rather than "unknown format".
bool starts_like_safetensors(const unsigned char* head, size_t size, uint64_t file_size);

// Tensors in the header's order (which is the order of their data). Throws CheckpointError naming the file and
// the problem for anything that is not a well-formed safetensors file of supported dtypes.
CheckpointLayout index_safetensors_checkpoint(const RandomAccessFile& file);

}  // namespace vitorch::checkpoint
