#include "model/block.h"

#include <c10/core/GradMode.h>

namespace vitorch::model {

BlockImpl::BlockImpl(BlockOptions options_) : options(std::move(options_)) { reset(); }

void BlockImpl::reset() {
  const auto dim = options.dim();
  const auto layer_norm = torch::nn::LayerNormOptions({dim}).eps(options.layer_norm_eps());
  norm1 = register_module("norm1", torch::nn::LayerNorm(layer_norm));
  attn = register_module("attn", Attention(AttentionOptions(dim, options.num_heads())
                                               .qkv_bias(options.qkv_bias())
                                               .attn_drop(options.attn_drop())
                                               .proj_drop(options.drop())));
  norm2 = register_module("norm2", torch::nn::LayerNorm(layer_norm));
  // Python's int(dim * mlp_ratio) truncates toward zero; so does this cast.
  const auto hidden = static_cast<int64_t>(static_cast<double>(dim) * options.mlp_ratio());
  mlp = register_module("mlp", Mlp(MlpOptions(dim, hidden).drop(options.drop()).activation(options.activation())));
  drop_path = register_module("drop_path", DropPath(options.drop_path()));
}

torch::Tensor BlockImpl::forward(torch::Tensor x) {
  if (!c10::GradMode::is_enabled()) {
    // Nothing records x for a backward pass, so the residual sums can reuse its memory.
    x.add_(drop_path(attn(norm1(x))));
    return x.add_(drop_path(mlp(norm2(x))));
  }
  x = x + drop_path(attn(norm1(x)));
  return x + drop_path(mlp(norm2(x)));
}

std::pair<torch::Tensor, torch::Tensor> BlockImpl::forward_with_attention(torch::Tensor x) {
  auto [mixed, probabilities] = attn->forward_with_probabilities(norm1(x));
  if (!c10::GradMode::is_enabled()) {
    x.add_(drop_path(mixed));
    x.add_(drop_path(mlp(norm2(x))));
  } else {
    x = x + drop_path(mixed);
    x = x + drop_path(mlp(norm2(x)));
  }
  return {std::move(x), std::move(probabilities)};
}

}  // namespace vitorch::model
