// Cuts an image into non-overlapping patch_size x patch_size patches and projects each to num_features values:
// a Conv2d whose kernel and stride are the patch size, then [B, C, H/p, W/p] -> [B, H/p * W/p, C].
#pragma once

#include <torch/nn/cloneable.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>

namespace vitorch::model {

struct PatchEmbedOptions {
  PatchEmbedOptions(int64_t patch_size, int64_t in_chans, int64_t num_features)
      : patch_size_(patch_size), in_chans_(in_chans), num_features_(num_features) {}
  TORCH_ARG(int64_t, patch_size);
  TORCH_ARG(int64_t, in_chans);
  TORCH_ARG(int64_t, num_features);
};

class PatchEmbedImpl : public torch::nn::Cloneable<PatchEmbedImpl> {
 public:
  explicit PatchEmbedImpl(PatchEmbedOptions options);
  void reset() override;
  torch::Tensor forward(const torch::Tensor& images);

  PatchEmbedOptions options;
  torch::nn::Conv2d proj{nullptr};
  // The seed has no norm here (norm_layer=None); the identity keeps its attribute so the structure mirrors it.
  torch::nn::Identity norm{nullptr};
};
TORCH_MODULE(PatchEmbed);

}  // namespace vitorch::model
