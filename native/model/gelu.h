// GELU, the activation of the MLP. The seed model uses its tanh form, 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)));
// timm's and Hugging Face transformers' ViTs use the exact form, x Phi(x) with the normal CDF written through erf.
// The two differ by up to about 1e-3 per activation, which a 12-block model turns into logit differences far above
// the 1e-4 their checkpoints are checked to, so a model loaded from them must compute the form it was trained with.
// Both are libtorch's fused gelu kernel (approximate="tanh" or "none"): one pass over memory.
#pragma once

#include <torch/nn/cloneable.h>
#include <torch/nn/pimpl.h>

namespace vitorch::model {

enum class Activation { kGeluTanh, kGelu };

class GELUImpl : public torch::nn::Cloneable<GELUImpl> {
 public:
  explicit GELUImpl(Activation activation = Activation::kGeluTanh) : activation(activation) {}
  void reset() override {}
  torch::Tensor forward(const torch::Tensor& x);
  // The same function written over x (for inference, where x is not needed afterwards).
  torch::Tensor forward_in_place(torch::Tensor& x);

  Activation activation;
};
TORCH_MODULE(GELU);

// libtorch's name for the form: gelu's `approximate` argument.
const char* gelu_approximation(Activation activation);

}  // namespace vitorch::model
