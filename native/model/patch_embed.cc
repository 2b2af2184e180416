#include "model/patch_embed.h"

namespace vitorch::model {

PatchEmbedImpl::PatchEmbedImpl(PatchEmbedOptions options_) : options(std::move(options_)) { reset(); }

void PatchEmbedImpl::reset() {
  const auto p = options.patch_size();
  proj = register_module(
      "proj", torch::nn::Conv2d(torch::nn::Conv2dOptions(options.in_chans(), options.num_features(), p).stride(p)));
  norm = register_module("norm", torch::nn::Identity());
}

torch::Tensor PatchEmbedImpl::forward(const torch::Tensor& images) {
  return norm(proj(images).flatten(2).transpose(1, 2));
}

}  // namespace vitorch::model
