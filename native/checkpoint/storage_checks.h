// Checks shared by the checkpoint readers: storage locations, bool bytes and the host byte order. (Dtype names for
// messages come from common/describe.h.)
#pragma once

#include <torch/types.h>

#include <string>

#include "checkpoint/random_access_file.h"

namespace vitorch::checkpoint {

// Storages are saved from any device and all loaded onto the CPU: true for 'cpu', 'cuda', 'cuda:N' and 'mps'.
bool is_known_location(const std::string& location);

// A bool must be stored as byte 0 or 1; any other byte would be undefined behaviour once read as a C++ bool.
// Fails through `file` naming `what` (e.g. "record 'a/data/3'") and the first bad element.
void check_bool_bytes(const RandomAccessFile& file, const std::string& what, const torch::Tensor& storage);

// Checkpoints hold little-endian data, which is read as is.
bool host_is_little_endian();

}  // namespace vitorch::checkpoint
