// Copying between JavaScript TypedArrays and CPU tensors. Each JS element type has one natural dtype (Float32Array
// <-> float32, BigInt64Array <-> int64, ...); float16 and bfloat16 travel as their raw bits in a Uint16Array.
#pragma once

#include <napi.h>
#include <torch/types.h>

#include <optional>
#include <vector>

namespace vitorch::binding {

// A tensor of `shape` holding a copy of the array's elements, read as `source_dtype` (nullopt: the array's natural
// dtype; a Uint8Array with another source dtype is read as that dtype's raw bytes) and converted to `target_dtype`.
// Throws InvalidType / InvalidValue for arrays, dtypes and shapes that do not fit together.
torch::Tensor tensor_from_typed_array(const Napi::TypedArray& array, const std::vector<int64_t>& shape,
                                      std::optional<c10::ScalarType> source_dtype,
                                      std::optional<c10::ScalarType> target_dtype);

// A new TypedArray holding a copy of the tensor's elements in row-major order (moved to the CPU first).
Napi::TypedArray typed_array_from_tensor(Napi::Env env, const torch::Tensor& tensor);

std::vector<int64_t> shape_from_js(const Napi::Value& value, const char* what);

}  // namespace vitorch::binding
