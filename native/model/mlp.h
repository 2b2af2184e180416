// The transformer block's feed-forward part: Linear -> GELU -> Dropout -> Linear -> Dropout.
#pragma once

#include <torch/nn/cloneable.h>
#include <torch/nn/modules/dropout.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>

#include "model/gelu.h"
#include "model/prepared_linear.h"

namespace vitorch::model {

struct MlpOptions {
  MlpOptions(int64_t in_features, int64_t hidden_features)
      : in_features_(in_features), hidden_features_(hidden_features), out_features_(in_features) {}
  TORCH_ARG(int64_t, in_features);
  TORCH_ARG(int64_t, hidden_features);
  TORCH_ARG(int64_t, out_features);
  TORCH_ARG(double, drop) = 0.0;
  TORCH_ARG(Activation, activation) = Activation::kGeluTanh;
};

class MlpImpl : public torch::nn::Cloneable<MlpImpl> {
 public:
  explicit MlpImpl(MlpOptions options);
  void reset() override;
  torch::Tensor forward(const torch::Tensor& x);

  MlpOptions options;
  torch::nn::Linear fc1{nullptr};
  GELU act{nullptr};
  torch::nn::Dropout drop1{nullptr};
  torch::nn::Linear fc2{nullptr};
  torch::nn::Dropout drop2{nullptr};

  // fc1 (with act in the same kernel call) and fc2 as inference computes them on the CPU (float32, bfloat16 or int8).
  PreparedLinear fc1_prepared;
  PreparedLinear fc2_prepared;
};
TORCH_MODULE(Mlp);

}  // namespace vitorch::model
