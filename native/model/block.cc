#include "model/block.h"

namespace vitorch::model {

BlockImpl::BlockImpl(BlockOptions options_) : options(std::move(options_)) { reset(); }

void BlockImpl::reset() {
  const auto dim = options.dim();
  const auto layer_norm = torch::nn::LayerNormOptions({dim}).eps(kLayerNormEps);
  norm1 = register_module("norm1", torch::nn::LayerNorm(layer_norm));
  attn = register_module("attn", Attention(AttentionOptions(dim, options.num_heads())
                                               .qkv_bias(options.qkv_bias())
                                               .attn_drop(options.attn_drop())
                                               .proj_drop(options.drop())));
  norm2 = register_module("norm2", torch::nn::LayerNorm(layer_norm));
  // Python's int(dim * mlp_ratio) truncates toward zero; so does this cast.
  const auto hidden = static_cast<int64_t>(static_cast<double>(dim) * options.mlp_ratio());
  mlp = register_module("mlp", Mlp(MlpOptions(dim, hidden).drop(options.drop())));
  drop_path = register_module("drop_path", DropPath(options.drop_path()));
}

torch::Tensor BlockImpl::forward(torch::Tensor x) {
  x = x + drop_path(attn(norm1(x)));
  return x + drop_path(mlp(norm2(x)));
}

}  // namespace vitorch::model
