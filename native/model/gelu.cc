#include "model/gelu.h"

#include <ATen/ATen.h>

namespace vitorch::model {

const char* gelu_approximation(Activation activation) { return activation == Activation::kGelu ? "none" : "tanh"; }

torch::Tensor GELUImpl::forward(const torch::Tensor& x) { return at::gelu(x, gelu_approximation(activation)); }

torch::Tensor GELUImpl::forward_in_place(torch::Tensor& x) { return at::gelu_(x, gelu_approximation(activation)); }

}  // namespace vitorch::model
