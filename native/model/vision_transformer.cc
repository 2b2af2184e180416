#include "model/vision_transformer.h"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>
#include <c10/core/InferenceMode.h>
#include <torch/nn/modules/linear.h>

#include <algorithm>

#include "common/describe.h"
#include "common/errors.h"
#include "model/linear_init.h"

namespace vitorch::model {
namespace {

// freeze_backbone covers this many leading blocks in the seed.
constexpr int64_t kFrozenBlockCount = 8;

void require(bool condition, const std::string& option, const std::string& expected, const std::string& received) {
  if (!condition) throw InvalidValue("expected " + option + " to be " + expected + ", received " + received);
}

}  // namespace

void validate(const VisionTransformerOptions& o) {
  require(o.input_shape().size() == 2, "inputShape", "[height, width]", format_shape(o.input_shape()));
  require(o.patch_size() >= 1 && o.patch_size() <= kPositionGridImageSize, "patchSize", "an integer in [1, 224]",
          std::to_string(o.patch_size()));
  for (auto side : o.input_shape()) {
    require(side >= o.patch_size(), "inputShape",
            "at least patchSize (" + std::to_string(o.patch_size()) + ") on each side", format_shape(o.input_shape()));
  }
  require(o.in_chans() >= 1, "inChans", "a positive integer", std::to_string(o.in_chans()));
  require(o.num_classes() >= 0, "numClasses", "a non-negative integer", std::to_string(o.num_classes()));
  require(o.num_features() >= 1, "numFeatures", "a positive integer", std::to_string(o.num_features()));
  require(o.depth() >= 0, "depth", "a non-negative integer", std::to_string(o.depth()));
  require(o.num_heads() >= 1 && o.num_features() % o.num_heads() == 0, "numHeads",
          "a positive divisor of numFeatures (" + std::to_string(o.num_features()) + ")",
          std::to_string(o.num_heads()));
  require(o.mlp_ratio() > 0 && static_cast<int64_t>(o.num_features() * o.mlp_ratio()) >= 1, "mlpRatio",
          "a positive number giving at least one hidden feature", format_number(o.mlp_ratio()));
  for (const auto& [name, rate] : {std::pair{"dropRate", o.drop_rate()}, std::pair{"attnDropRate", o.attn_drop_rate()},
                                   std::pair{"dropPathRate", o.drop_path_rate()}}) {
    require(rate >= 0.0 && rate < 1.0, name, "in [0, 1)", format_number(rate));
  }
  // LayerNorm divides by sqrt(variance + eps): a zero eps makes a constant token NaN.
  require(o.layer_norm_eps() > 0.0 && o.layer_norm_eps() < 1.0, "layerNormEps", "a number in (0, 1)",
          format_number(o.layer_norm_eps()));
}

VisionTransformerImpl::VisionTransformerImpl(VisionTransformerOptions options_) : options(std::move(options_)) {
  reset();
}

void VisionTransformerImpl::reset() {
  validate(options);
  const auto dim = options.num_features();
  const auto grid = kPositionGridImageSize / options.patch_size();

  // Registration order decides named_parameters() order; it follows the seed's __init__. As in PyTorch, a module's
  // own parameters (cls_token, pos_embed) are listed before its children's.
  patch_embed =
      register_module("patch_embed", PatchEmbed(PatchEmbedOptions(options.patch_size(), options.in_chans(), dim)));
  cls_token = register_parameter("cls_token", torch::zeros({1, 1, dim}));
  pos_embed = register_parameter("pos_embed", torch::zeros({1, grid * grid + 1, dim}));
  pos_drop = register_module("pos_drop", torch::nn::Dropout(options.drop_rate()));

  // Stochastic depth grows linearly from 0 at the first block to drop_path_rate at the last. The seed reads the
  // rates from a float32 torch.linspace, so they are rounded to float32 here too.
  const auto drop_path_rates = torch::linspace(0.0, options.drop_path_rate(), options.depth(), torch::kFloat32);
  blocks = register_module("blocks", torch::nn::ModuleList());
  for (int64_t i = 0; i < options.depth(); ++i) {
    blocks->push_back(Block(BlockOptions(dim, options.num_heads())
                                .mlp_ratio(options.mlp_ratio())
                                .qkv_bias(options.qkv_bias())
                                .drop(options.drop_rate())
                                .attn_drop(options.attn_drop_rate())
                                .drop_path(drop_path_rates[i].item<float>())
                                .activation(options.activation())
                                .layer_norm_eps(options.layer_norm_eps())));
  }
  norm =
      register_module("norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({dim}).eps(options.layer_norm_eps())));
  replace_head(options.num_classes());
}

void VisionTransformerImpl::replace_head(int64_t num_classes) {
  if (num_classes < 0) {
    throw InvalidValue("expected numClasses to be a non-negative integer, received " + std::to_string(num_classes));
  }
  options.num_classes(num_classes);
  const auto existing = named_children();
  const bool registered = existing.contains("head");
  if (num_classes == 0) {
    head = nullptr;
    torch::nn::Identity identity;
    if (registered) replace_module("head", identity);
    else register_module("head", identity);
    return;
  }
  torch::nn::Linear fresh = make_linear(torch::nn::LinearOptions(options.num_features(), num_classes));
  // A new head lives where the rest of the model does.
  fresh->to(pos_embed.device(), pos_embed.scalar_type());
  head = registered ? replace_module("head", fresh) : register_module("head", fresh);
}

void VisionTransformerImpl::check_input(const torch::Tensor& images) const {
  const auto& shape = options.input_shape();
  const bool shape_ok = images.dim() == 4 && images.size(1) == options.in_chans() && images.size(2) == shape[0] &&
                        images.size(3) == shape[1] && images.size(0) >= 1;
  if (!shape_ok) {
    throw InvalidValue("expected input of shape [N, " + std::to_string(options.in_chans()) + ", " +
                       std::to_string(shape[0]) + ", " + std::to_string(shape[1]) + "], received " +
                       format_shape(images.sizes()));
  }
  if (images.scalar_type() != pos_embed.scalar_type()) {
    throw InvalidType(std::string("expected input of dtype ") + dtype_name(pos_embed.scalar_type()) +
                      " (the model's dtype), received " + dtype_name(images.scalar_type()));
  }
  if (images.device() != pos_embed.device()) {
    throw InvalidValue("expected input on " + pos_embed.device().str() + " (the model's device), received " +
                       images.device().str());
  }
}

torch::Tensor VisionTransformerImpl::resample_position_embedding() const {
  const auto dim = options.num_features();
  const auto old_grid = kPositionGridImageSize / options.patch_size();
  const auto new_height = options.input_shape()[0] / options.patch_size();
  const auto new_width = options.input_shape()[1] / options.patch_size();
  auto class_position = pos_embed.narrow(1, 0, 1);
  auto image_position =
      pos_embed.narrow(1, 1, old_grid * old_grid).reshape({1, old_grid, old_grid, dim}).permute({0, 3, 1, 2});
  // Half-precision weights are resampled in float32 (not every libtorch has a half bicubic kernel on the CPU).
  const auto dtype = pos_embed.scalar_type();
  image_position = at::upsample_bicubic2d(image_position.to(at::promote_types(dtype, torch::kFloat32)),
                                          {new_height, new_width}, /*align_corners=*/false);
  image_position = image_position.to(dtype).permute({0, 2, 3, 1}).flatten(1, 2);
  return torch::cat({class_position, image_position}, 1);
}

torch::Tensor VisionTransformerImpl::position_embedding_for_input() {
  if (!c10::InferenceMode::is_enabled()) return resample_position_embedding();
  auto& cached = resampled_positions_;
  const auto& storage = pos_embed.storage();
  const bool fresh = cached.value.defined() && cached.source.unsafeGetStorageImpl() == storage.unsafeGetStorageImpl() &&
                     cached.source_version == pos_embed._version();
  if (!fresh) cached = {resample_position_embedding(), storage, pos_embed._version()};
  return cached.value;
}

torch::Tensor VisionTransformerImpl::embed(const torch::Tensor& images) {
  check_input(images);
  auto tokens = patch_embed(images);
  auto class_tokens = cls_token.expand({tokens.size(0), -1, -1});
  tokens = torch::cat({class_tokens, tokens}, 1);
  // Without autograd, intermediate results belong to this forward alone and are updated in place (as here and in
  // Block and Mlp) instead of allocating a new tensor per step.
  tokens = c10::GradMode::is_enabled() ? tokens + position_embedding_for_input()
                                       : tokens.add_(position_embedding_for_input());
  return pos_drop(tokens);
}

torch::Tensor VisionTransformerImpl::forward_features(const torch::Tensor& images) {
  auto tokens = embed(images);
  for (const auto& block : *blocks) tokens = block->as<BlockImpl>()->forward(tokens);
  return norm(tokens).select(1, 0);
}

torch::Tensor VisionTransformerImpl::forward(const torch::Tensor& images) {
  auto features = forward_features(images);
  return head ? head(features) : features;
}

void VisionTransformerImpl::set_backbone_requires_grad(bool requires_grad) {
  for (auto& parameter : patch_embed->parameters()) parameter.requires_grad_(requires_grad);
  cls_token.requires_grad_(requires_grad);
  pos_embed.requires_grad_(requires_grad);
  const auto frozen = std::min<int64_t>(kFrozenBlockCount, static_cast<int64_t>(blocks->size()));
  for (int64_t i = 0; i < frozen; ++i) {
    for (auto& parameter : blocks[i]->parameters()) parameter.requires_grad_(requires_grad);
  }
}

std::vector<PreparedLinear*> VisionTransformerImpl::prepared_linears() {
  std::vector<PreparedLinear*> linears;
  for (const auto& block : *blocks) {
    auto& impl = *block->as<BlockImpl>();
    linears.insert(linears.end(), {&impl.attn->qkv_prepared, &impl.attn->proj_prepared, &impl.mlp->fc1_prepared,
                                   &impl.mlp->fc2_prepared});
  }
  return linears;
}

void VisionTransformerImpl::train(bool on) {
  torch::nn::Module::train(on);
  if (on) release_prepared();
}

void VisionTransformerImpl::release_prepared() {
  for (auto* linear : prepared_linears()) linear->release();
}

void VisionTransformerImpl::quantize(Int8Options int8) {
  if (is_training()) {
    throw InvalidValue(
        "expected the model in evaluation mode to quantize it (int8 is for inference; training keeps float32), "
        "received a model in training mode: call model.eval() first");
  }
  if (!pos_embed.device().is_cpu() || pos_embed.scalar_type() != torch::kFloat32) {
    throw InvalidValue(std::string("expected a float32 model on the CPU to quantize (int8 inference is a CPU mode), "
                                   "received a ") +
                       dtype_name(pos_embed.scalar_type()) + " model on " + pos_embed.device().str());
  }
  for (auto* linear : prepared_linears()) linear->set_int8(int8);
  quantized_ = true;
}

void VisionTransformerImpl::dequantize() {
  for (auto* linear : prepared_linears()) linear->set_int8(std::nullopt);
  quantized_ = false;
}

int64_t VisionTransformerImpl::prepared_bytes() const {
  int64_t bytes = 0;
  for (auto* linear : const_cast<VisionTransformerImpl*>(this)->prepared_linears()) bytes += linear->bytes();
  return bytes;
}

void VisionTransformerImpl::freeze_backbone() { set_backbone_requires_grad(false); }
void VisionTransformerImpl::unfreeze_backbone() { set_backbone_requires_grad(true); }

}  // namespace vitorch::model
