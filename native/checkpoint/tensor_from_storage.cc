// Bounds-checked as_strided over a storage (see tensor_from_storage.h).
#include "checkpoint/tensor_from_storage.h"

#include <sstream>

#include "checkpoint/message_text.h"
#include "common/errors.h"

namespace vitorch::checkpoint {

namespace {

// More dimensions than any real tensor has; bounds the work and the message size for hostile files.
constexpr size_t kMaxDimensions = 64;

std::string join(const std::vector<int64_t>& values) {
  std::ostringstream out;
  out << "[";
  for (size_t i = 0; i < values.size(); ++i) out << (i ? ", " : "") << values[i];
  out << "]";
  return out.str();
}

}  // namespace

torch::Tensor tensor_from_storage(const torch::Tensor& storage, const std::string& storage_key, int64_t storage_offset,
                                  const std::vector<int64_t>& sizes, const std::vector<int64_t>& strides,
                                  const std::string& file_path) {
  const std::string what = file_path + ": tensor on storage '" + printable(storage_key) + "'";
  if (sizes.size() > kMaxDimensions) {
    throw CheckpointError(what + " has " + std::to_string(sizes.size()) + " dimensions (at most " +
                          std::to_string(kMaxDimensions) + " are supported)");
  }
  const std::string geometry =
      "size " + join(sizes) + ", stride " + join(strides) + ", offset " + std::to_string(storage_offset);
  if (sizes.size() != strides.size()) {
    throw CheckpointError(what + " has " + std::to_string(sizes.size()) + " sizes but " +
                          std::to_string(strides.size()) + " strides (" + geometry + ")");
  }
  if (storage_offset < 0) {
    throw CheckpointError(what + " has a negative storage offset (" + geometry + ")");
  }
  const int64_t storage_elements = storage.numel();
  bool empty = false;
  int64_t element_count = 1;
  int64_t last_element = storage_offset;  // index of the last element the view touches
  for (size_t d = 0; d < sizes.size(); ++d) {
    if (sizes[d] < 0 || strides[d] < 0) {
      throw CheckpointError(what + " has a negative size or stride (" + geometry + ")");
    }
    if (sizes[d] == 0) empty = true;
    int64_t reach = 0;
    if (__builtin_mul_overflow(element_count, sizes[d], &element_count) ||
        (sizes[d] > 0 && __builtin_mul_overflow(sizes[d] - 1, strides[d], &reach)) ||
        __builtin_add_overflow(last_element, reach, &last_element)) {
      throw CheckpointError(what + " is impossibly large (" + geometry + ")");
    }
  }
  // An empty view touches nothing; torch still records its offset, which must then at least lie within reach.
  const bool fits = empty ? storage_offset <= storage_elements : last_element < storage_elements;
  if (!fits) {
    throw CheckpointError(what + " does not fit in it: the storage holds " + std::to_string(storage_elements) +
                          " elements, but " + geometry + " needs " +
                          std::to_string(empty ? storage_offset : last_element + 1));
  }
  // as_strided's offset counts from the start of the underlying storage, not from `storage`'s first element.
  int64_t absolute_offset = 0;
  if (__builtin_add_overflow(storage.storage_offset(), storage_offset, &absolute_offset)) {
    throw CheckpointError(what + " is impossibly large (" + geometry + ")");
  }
  try {
    return storage.as_strided(sizes, strides, absolute_offset);
  } catch (const c10::Error& error) {
    throw CheckpointError(what + " cannot be created (" + geometry + "): " + error.what_without_backtrace());
  }
}

}  // namespace vitorch::checkpoint
