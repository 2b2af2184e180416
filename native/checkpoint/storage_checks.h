// Checks and names shared by the checkpoint readers: dtype names for messages, storage locations, bool bytes and
// the host byte order.
#pragma once

#include <torch/types.h>

#include <string>

#include "checkpoint/random_access_file.h"

namespace vitorch::checkpoint {

// The Python name of a dtype, as users know it from torch ("float32", not c10's "Float").
std::string dtype_name(c10::ScalarType dtype);

// Storages are saved from any device and all loaded onto the CPU: true for 'cpu', 'cuda', 'cuda:N' and 'mps'.
bool is_known_location(const std::string& location);

// A bool must be stored as byte 0 or 1; any other byte would be undefined behaviour once read as a C++ bool.
// Fails through `file` naming `what` (e.g. "record 'a/data/3'") and the first bad element.
void check_bool_bytes(const RandomAccessFile& file, const std::string& what, const torch::Tensor& storage);

// Checkpoints hold little-endian data, which is read as is.
bool host_is_little_endian();

}  // namespace vitorch::checkpoint
