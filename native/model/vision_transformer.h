// The seed's VisionTransformer: patch embedding, a class token, learned position embeddings, `depth` encoder blocks,
// a final LayerNorm, and a Linear head on the class token.
//
// Two behaviours of the seed are kept on purpose, because checkpoints trained with it depend on them:
//  - pos_embed always has (224 / patch_size)^2 + 1 rows, whatever input_shape is, and its image part is resampled
//    bicubically (align_corners=false) to the input's patch grid at every forward;
//  - the output is the head applied to the class token (num_classes = 0: the class token's features).
// Registered names equal the seed's attribute names, so named_parameters() lists the keys of its state_dict in the
// same order.
#pragma once

#include <torch/nn/cloneable.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/dropout.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>
#include <torch/nn/pimpl.h>

#include <vector>

#include "model/block.h"
#include "model/patch_embed.h"

namespace vitorch::model {

// The seed sizes pos_embed for this image side, whatever the input size.
constexpr int64_t kPositionGridImageSize = 224;

struct VisionTransformerOptions {
  TORCH_ARG(std::vector<int64_t>, input_shape) = std::vector<int64_t>{224, 224};
  TORCH_ARG(int64_t, patch_size) = 16;
  TORCH_ARG(int64_t, in_chans) = 3;
  TORCH_ARG(int64_t, num_classes) = 1000;
  TORCH_ARG(int64_t, num_features) = 768;
  TORCH_ARG(int64_t, depth) = 12;
  TORCH_ARG(int64_t, num_heads) = 12;
  TORCH_ARG(double, mlp_ratio) = 4.0;
  TORCH_ARG(bool, qkv_bias) = true;
  TORCH_ARG(double, drop_rate) = 0.1;
  TORCH_ARG(double, attn_drop_rate) = 0.1;
  TORCH_ARG(double, drop_path_rate) = 0.1;
  // The MLP's GELU: the seed's tanh form by default; timm's and transformers' checkpoints need the exact (erf) one.
  TORCH_ARG(Activation, activation) = Activation::kGeluTanh;
  // Of every LayerNorm: the seed's 1e-6 by default; transformers' ViT uses 1e-12.
  TORCH_ARG(double, layer_norm_eps) = kLayerNormEps;
};

// Throws InvalidValue naming the option, what it must be and what it is.
void validate(const VisionTransformerOptions& options);

class VisionTransformerImpl : public torch::nn::Cloneable<VisionTransformerImpl> {
 public:
  explicit VisionTransformerImpl(VisionTransformerOptions options = {});
  void reset() override;
  // Training mode also frees the blocks' prepared weights (PreparedLinear): training changes the weights they were
  // made from, and they would double the memory the weights take meanwhile.
  void train(bool on = true) override;
  void release_prepared();

  // images: [N, in_chans, H, W] with [H, W] = input_shape -> [N, num_classes] (or [N, num_features] without head)
  torch::Tensor forward(const torch::Tensor& images);
  // images -> the class token after the final norm, [N, num_features]
  torch::Tensor forward_features(const torch::Tensor& images);
  // images -> the tokens the first block takes: class token and patches with their positions, [N, 1 + patches,
  // num_features] (forward_features and model/attention_maps.h start from here).
  torch::Tensor embed(const torch::Tensor& images);

  // The seed's freeze_backbone / Unfreeze_backbone: requires_grad on patch_embed, cls_token, pos_embed and the
  // first 8 blocks; the later blocks, norm and head are left as they are.
  void freeze_backbone();
  void unfreeze_backbone();

  // A fresh head for num_classes (0: none), on the model's device and dtype, as the seed's vit() does.
  void replace_head(int64_t num_classes);

  // Dynamic int8 quantization of the blocks' Linear layers for inference (PreparedLinear): from the next forward in
  // evaluation mode their products are computed in int8; the float32 parameters stay as they are (state_dict, save,
  // training). Throws InvalidValue in training mode or unless the model is float32 on the CPU.
  void quantize(Int8Options int8 = {});
  // Back to float32 arithmetic.
  void dequantize();
  bool quantized() const { return quantized_; }
  // Host memory of the blocks' prepared weights (PreparedLinear), beside the parameters.
  int64_t prepared_bytes() const;

  // Throws InvalidValue / InvalidType describing what was expected when images cannot go through forward().
  void check_input(const torch::Tensor& images) const;

  VisionTransformerOptions options;
  PatchEmbed patch_embed{nullptr};
  torch::Tensor cls_token;
  torch::Tensor pos_embed;
  torch::nn::Dropout pos_drop{nullptr};
  torch::nn::ModuleList blocks{nullptr};
  torch::nn::LayerNorm norm{nullptr};
  // Null when num_classes is 0; then "head" is registered as an identity, mirroring the seed's nn.Identity().
  torch::nn::Linear head{nullptr};

 private:
  torch::Tensor position_embedding_for_input();
  torch::Tensor resample_position_embedding() const;

  // The seed resamples pos_embed to the input's grid on every forward. In inference mode the result is kept and
  // reused while pos_embed is the same storage at the same version (load_state_dict, an optimizer step or to()
  // change one of them); holding the storage keeps its address from being reused by another tensor.
  struct ResampledPositions {
    torch::Tensor value;
    c10::Storage source;
    int64_t source_version = -1;
  };
  ResampledPositions resampled_positions_;
  bool quantized_ = false;
  // Every block's qkv, proj, fc1 and fc2, in that order.
  std::vector<PreparedLinear*> prepared_linears();
  void set_backbone_requires_grad(bool requires_grad);
};
TORCH_MODULE(VisionTransformer);

}  // namespace vitorch::model
