#include "model/attention.h"

#include <ATen/ATen.h>
#include <ATen/autocast_mode.h>
#include <c10/core/GradMode.h>

#include <cmath>

#include "common/errors.h"
#include "model/linear_init.h"

namespace vitorch::model {

AttentionImpl::AttentionImpl(AttentionOptions options_) : options(std::move(options_)) { reset(); }

void AttentionImpl::reset() {
  const auto dim = options.dim();
  if (options.num_heads() <= 0 || dim % options.num_heads() != 0) {
    throw InvalidValue("expected numFeatures (" + std::to_string(dim) + ") to be a multiple of numHeads (" +
                       std::to_string(options.num_heads()) + ")");
  }
  qkv = register_module("qkv", make_linear(torch::nn::LinearOptions(dim, dim * 3).bias(options.qkv_bias())));
  attn_drop = register_module("attn_drop", torch::nn::Dropout(options.attn_drop()));
  proj = register_module("proj", make_linear(torch::nn::LinearOptions(dim, dim)));
  proj_drop = register_module("proj_drop", torch::nn::Dropout(options.proj_drop()));
}

torch::Tensor AttentionImpl::heads_of(const torch::Tensor& tokens) {
  const auto heads = options.num_heads();
  return linear(qkv, qkv_prepared, tokens)
      .reshape({tokens.size(0), tokens.size(1), 3, heads, tokens.size(2) / heads})
      .permute({2, 0, 3, 1, 4});
}

torch::Tensor AttentionImpl::project(const torch::Tensor& mixed, const torch::Tensor& tokens) {
  return proj_drop(linear(proj, proj_prepared, mixed.transpose(1, 2).reshape(tokens.sizes())));
}

torch::Tensor AttentionImpl::forward(const torch::Tensor& tokens) {
  const auto dim = tokens.size(2);
  const auto heads = options.num_heads();
  auto qkv_heads = heads_of(tokens);
  auto q = qkv_heads[0];
  auto k = qkv_heads[1];
  auto v = qkv_heads[2];
  const double dropout = is_training() ? options.attn_drop() : 0.0;
  torch::Tensor mixed;
  if (c10::GradMode::is_enabled() && (dropout > 0.0 || at::autocast::is_autocast_enabled(tokens.device().type()) ||
                                      tokens.scalar_type() != torch::kFloat32)) {
    // Training with attention dropout or in a lower precision: the seed's own arithmetic, softmax(q k^T *
    // head_dim^-0.5) then attn_drop, as plain kernels. libtorch's fused kernel has no fused dropout on the CPU and
    // its bfloat16 backward is slow there: measured on the Fashion-MNIST model (bench/README.md, Training), the
    // plain form was 1.1x faster with dropout and 3.6x faster under bfloat16 autocast.
    auto weights = at::matmul(q, k.transpose(-2, -1)) * (1.0 / std::sqrt(static_cast<double>(dim / heads)));
    mixed = at::matmul(attn_drop(weights.softmax(-1)), v);
  } else {
    // libtorch's fused attention computes softmax(q k^T / sqrt(head_dim)) v, the seed's formula, without
    // materialising the N x N matrix when it can; its dropout on the attention weights is the seed's attn_drop.
    mixed = at::scaled_dot_product_attention(q, k, v, /*attn_mask=*/{}, dropout);
  }
  return project(mixed, tokens);
}

std::pair<torch::Tensor, torch::Tensor> AttentionImpl::forward_with_probabilities(const torch::Tensor& tokens) {
  const auto dim = tokens.size(2);
  const auto heads = options.num_heads();
  auto qkv_heads = heads_of(tokens);
  auto scores =
      at::matmul(qkv_heads[0], qkv_heads[1].transpose(-2, -1)) * (1.0 / std::sqrt(static_cast<double>(dim / heads)));
  auto probabilities = scores.softmax(-1);
  auto mixed = at::matmul(attn_drop(probabilities), qkv_heads[2]);
  return {project(mixed, tokens), std::move(probabilities)};
}

torch::Tensor AttentionImpl::linear(torch::nn::Linear& layer, PreparedLinear& prepared, const torch::Tensor& x) {
  if (!is_training() && PreparedLinear::applies(*layer, x)) return prepared.forward(*layer, x, LinearEpilogue::kNone);
  return layer(x);
}

}  // namespace vitorch::model
