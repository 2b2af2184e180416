#include "model/attention_maps.h"

#include <c10/core/InferenceMode.h>

#include "common/errors.h"

namespace vitorch::model {

void require_evaluation_mode(const VisionTransformerImpl& model) {
  if (model.is_training()) {
    throw InvalidValue(
        "expected the model in evaluation mode for attention maps (dropout would make them random), received a model "
        "in training mode: call model.eval() first");
  }
}

std::vector<torch::Tensor> attention_maps(VisionTransformerImpl& model, const torch::Tensor& images) {
  require_evaluation_mode(model);
  c10::InferenceMode inference;
  auto tokens = model.embed(images);
  std::vector<torch::Tensor> maps;
  maps.reserve(model.blocks->size());
  for (const auto& block : *model.blocks) {
    auto [next, probabilities] = block->as<BlockImpl>()->forward_with_attention(tokens);
    tokens = std::move(next);
    // A lower-precision model's probabilities are widened, so that every model's maps read alike.
    maps.push_back(probabilities.to(torch::kFloat32));
  }
  return maps;
}

torch::Tensor attention_rollout(VisionTransformerImpl& model, const torch::Tensor& images,
                                const RolloutOptions& options) {
  validate(options);
  if (model.blocks->is_empty()) {
    throw InvalidValue("expected a model with at least one block for attention rollout, received depth 0");
  }
  const auto& shape = model.options.input_shape();
  const auto patch = model.options.patch_size();
  return attention_rollout(attention_maps(model, images), {shape[0] / patch, shape[1] / patch}, options);
}

}  // namespace vitorch::model
