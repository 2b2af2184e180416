// Stochastic depth: in training, drops a sample's whole residual branch with probability drop_prob and scales the
// kept ones by 1 / (1 - drop_prob); in evaluation, the identity.
#pragma once

#include <torch/nn/cloneable.h>
#include <torch/nn/pimpl.h>

namespace vitorch::model {

class DropPathImpl : public torch::nn::Cloneable<DropPathImpl> {
 public:
  explicit DropPathImpl(double drop_prob = 0.0) : drop_prob_(drop_prob) {}
  void reset() override {}
  torch::Tensor forward(const torch::Tensor& x);
  double drop_prob() const { return drop_prob_; }

 private:
  double drop_prob_;
};
TORCH_MODULE(DropPath);

}  // namespace vitorch::model
