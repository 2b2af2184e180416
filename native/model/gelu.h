// GELU in its tanh form, 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), the activation the seed model uses.
// It is computed by libtorch's fused gelu(approximate="tanh") kernel: the same function, one pass over memory.
#pragma once

#include <torch/nn/cloneable.h>
#include <torch/nn/pimpl.h>

namespace vitorch::model {

class GELUImpl : public torch::nn::Cloneable<GELUImpl> {
 public:
  GELUImpl() = default;
  void reset() override {}
  torch::Tensor forward(const torch::Tensor& x);
  // The same function written over x (for inference, where x is not needed afterwards).
  torch::Tensor forward_in_place(torch::Tensor& x);
};
TORCH_MODULE(GELU);

}  // namespace vitorch::model
