// One pre-norm transformer encoder block: x + DropPath(Attention(LayerNorm(x))), then
// x + DropPath(Mlp(LayerNorm(x))).
#pragma once

#include <torch/nn/cloneable.h>
#include <torch/nn/modules/normalization.h>
#include <torch/nn/pimpl.h>

#include <utility>

#include "model/attention.h"
#include "model/drop_path.h"
#include "model/mlp.h"

namespace vitorch::model {

// The seed builds every LayerNorm of the model with this eps (transformers' ViT uses 1e-12: layer_norm_eps).
constexpr double kLayerNormEps = 1e-6;

struct BlockOptions {
  BlockOptions(int64_t dim, int64_t num_heads) : dim_(dim), num_heads_(num_heads) {}
  TORCH_ARG(int64_t, dim);
  TORCH_ARG(int64_t, num_heads);
  TORCH_ARG(double, mlp_ratio) = 4.0;
  TORCH_ARG(bool, qkv_bias) = false;
  TORCH_ARG(double, drop) = 0.0;
  TORCH_ARG(double, attn_drop) = 0.0;
  TORCH_ARG(double, drop_path) = 0.0;
  TORCH_ARG(Activation, activation) = Activation::kGeluTanh;
  TORCH_ARG(double, layer_norm_eps) = kLayerNormEps;
};

class BlockImpl : public torch::nn::Cloneable<BlockImpl> {
 public:
  explicit BlockImpl(BlockOptions options);
  void reset() override;
  torch::Tensor forward(torch::Tensor x);
  // forward, and the attention probabilities of its attention layer (AttentionImpl::forward_with_probabilities).
  std::pair<torch::Tensor, torch::Tensor> forward_with_attention(torch::Tensor x);

  BlockOptions options;
  torch::nn::LayerNorm norm1{nullptr};
  Attention attn{nullptr};
  torch::nn::LayerNorm norm2{nullptr};
  Mlp mlp{nullptr};
  // The seed uses the identity here when drop_path is 0; DropPath(0) is the identity too, so one type serves both.
  DropPath drop_path{nullptr};
};
TORCH_MODULE(Block);

}  // namespace vitorch::model
