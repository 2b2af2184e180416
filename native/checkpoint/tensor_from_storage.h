// Building a tensor as a view of a loaded storage, the way torch._utils._rebuild_tensor_v2 does, but with the
// view's extent checked first: a file can claim any size, stride and offset, and an unchecked as_strided would
// read outside the storage.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace vitorch::checkpoint {

// storage.as_strided(sizes, strides, storage_offset), where `storage` is the whole storage as a contiguous 1-D
// tensor, so the result shares it. `storage` may itself be a 1-D slice of a larger tensor (a storage view in the
// legacy format): storage_offset then counts from the slice's first element and the view must fit in the slice.
// Throws CheckpointError("<file_path>: ...") naming `storage_key` if the sizes and
// strides do not match in number, anything is negative, the element count overflows, or the view reaches past the
// end of the storage.
torch::Tensor tensor_from_storage(const torch::Tensor& storage, const std::string& storage_key, int64_t storage_offset,
                                  const std::vector<int64_t>& sizes, const std::vector<int64_t>& strides,
                                  const std::string& file_path);

}  // namespace vitorch::checkpoint
