#include "model/gelu.h"

#include <ATen/ATen.h>

namespace vitorch::model {

torch::Tensor GELUImpl::forward(const torch::Tensor& x) { return at::gelu(x, "tanh"); }

torch::Tensor GELUImpl::forward_in_place(torch::Tensor& x) { return at::gelu_(x, "tanh"); }

}  // namespace vitorch::model
