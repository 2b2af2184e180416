// Mixed precision for one training or evaluation call: libtorch's autocast on the model's device type, in the
// given lower precision (bfloat16 on CPUs with AVX-512 BF16 or AMX, bfloat16 or float16 on CUDA). Autocast state is
// thread-local, so the scope lives on the thread that runs the forward; the previous state is restored on exit.
#pragma once

#include <ATen/autocast_mode.h>

#include <optional>

namespace vitorch::train {

class AutocastScope {
 public:
  AutocastScope(c10::DeviceType device, std::optional<c10::ScalarType> dtype) : device_(device), active_(dtype) {
    if (!active_) return;
    was_enabled_ = at::autocast::is_autocast_enabled(device_);
    previous_dtype_ = at::autocast::get_autocast_dtype(device_);
    at::autocast::set_autocast_enabled(device_, true);
    at::autocast::set_autocast_dtype(device_, *dtype);
    at::autocast::increment_nesting();
  }
  ~AutocastScope() {
    if (!active_) return;
    // Casts cached for this call (weights in bfloat16) are dropped when the outermost scope ends.
    if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
    at::autocast::set_autocast_enabled(device_, was_enabled_);
    at::autocast::set_autocast_dtype(device_, previous_dtype_);
  }
  AutocastScope(const AutocastScope&) = delete;
  AutocastScope& operator=(const AutocastScope&) = delete;

 private:
  c10::DeviceType device_;
  std::optional<c10::ScalarType> active_;
  bool was_enabled_ = false;
  c10::ScalarType previous_dtype_ = c10::ScalarType::Float;
};

}  // namespace vitorch::train
