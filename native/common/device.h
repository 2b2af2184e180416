// Turning a device name ("cpu", "cuda", "cuda:1") into a torch::Device that this process can use, with an error
// that says why not when it cannot: no CUDA in this libtorch, no GPU visible, or an index past the last GPU.
#pragma once

#include <c10/core/Device.h>

#include <string>

namespace vitorch {

// Throws InvalidValue for a malformed name or an out-of-range index, std::runtime_error when CUDA is unavailable.
c10::Device usable_device(const std::string& name);

bool cuda_available();
int64_t cuda_device_count();

}  // namespace vitorch
