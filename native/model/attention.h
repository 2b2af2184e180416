// Multi-head self-attention as the seed defines it: one Linear makes q, k and v for every head, softmax(q k^T
// * head_dim^-0.5) weighs v, and a Linear projects the heads back to dim.
#pragma once

#include <torch/nn/cloneable.h>
#include <torch/nn/modules/dropout.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>

#include <utility>

#include "model/prepared_linear.h"

namespace vitorch::model {

struct AttentionOptions {
  AttentionOptions(int64_t dim, int64_t num_heads) : dim_(dim), num_heads_(num_heads) {}
  TORCH_ARG(int64_t, dim);
  TORCH_ARG(int64_t, num_heads) = 8;
  TORCH_ARG(bool, qkv_bias) = false;
  TORCH_ARG(double, attn_drop) = 0.0;
  TORCH_ARG(double, proj_drop) = 0.0;
};

class AttentionImpl : public torch::nn::Cloneable<AttentionImpl> {
 public:
  explicit AttentionImpl(AttentionOptions options);
  void reset() override;
  // tokens: [B, N, dim] -> [B, N, dim]
  torch::Tensor forward(const torch::Tensor& tokens);
  // forward, and the attention probabilities softmax(q k^T * head_dim^-0.5) it weighed v with, [B, heads, N, N]:
  // computed as the seed writes it, never by the fused kernel, which does not expose them.
  std::pair<torch::Tensor, torch::Tensor> forward_with_probabilities(const torch::Tensor& tokens);

  AttentionOptions options;
  torch::nn::Linear qkv{nullptr};
  torch::nn::Dropout attn_drop{nullptr};
  torch::nn::Linear proj{nullptr};
  torch::nn::Dropout proj_drop{nullptr};

  // qkv and proj as inference computes them on the CPU (float32, bfloat16 or int8).
  PreparedLinear qkv_prepared;
  PreparedLinear proj_prepared;

 private:
  torch::Tensor linear(torch::nn::Linear& layer, PreparedLinear& prepared, const torch::Tensor& x);
  // q, k and v of every head: [B, N, dim] -> [3, B, heads, N, head_dim].
  torch::Tensor heads_of(const torch::Tensor& tokens);
  // The heads' mixed values [B, heads, N, head_dim] joined and projected back: [B, N, dim].
  torch::Tensor project(const torch::Tensor& mixed, const torch::Tensor& tokens);
};
TORCH_MODULE(Attention);

}  // namespace vitorch::model
