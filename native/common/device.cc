#include "common/device.h"

#include <torch/cuda.h>

#include <regex>

#include "common/errors.h"

namespace vitorch {

bool cuda_available() { return torch::cuda::is_available(); }

int64_t cuda_device_count() { return static_cast<int64_t>(torch::cuda::device_count()); }

c10::Device usable_device(const std::string& name) {
  static const std::regex kDeviceName("^(cpu|cuda)(:([0-9]{1,3}))?$");
  std::smatch match;
  if (!std::regex_match(name, match, kDeviceName) || (match[1] == "cpu" && match[2].matched)) {
    throw InvalidValue("expected a device of 'cpu', 'cuda' or 'cuda:N', received '" + name + "'");
  }
  if (match[1] == "cpu") return c10::Device(c10::kCPU);
  if (!cuda_available()) {
    throw std::runtime_error("CUDA was requested ('" + name +
                             "') but is not available: no CUDA device is visible to this process, or the libtorch "
                             "vitorch runs on has no CUDA support (vitorch doctor says which). Use 'cpu'.");
  }
  const int64_t index = match[3].matched ? std::stoll(match[3].str()) : 0;
  if (index >= cuda_device_count()) {
    throw InvalidValue("expected a CUDA device index below " + std::to_string(cuda_device_count()) +
                       " (the number of visible GPUs), received '" + name + "'");
  }
  return c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(index));
}

}  // namespace vitorch
