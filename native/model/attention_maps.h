// Each block's attention probabilities for a batch of images: what a Python user captures with forward hooks on the
// attention modules, given by the model itself.
#pragma once

#include <torch/types.h>

#include <vector>

#include "model/attention_rollout.h"
#include "model/vision_transformer.h"

namespace vitorch::model {

// images: [N, in_chans, H, W] as forward() takes them -> one [N, num_heads, T, T] float32 tensor per block, in block
// order, T = 1 + the patches (the class token is token 0, the patches follow row by row). Row i holds token i's
// softmax over the tokens it attends to. Runs the blocks in inference mode with the attention computed explicitly
// (forward() itself keeps the fused kernel). Throws InvalidValue in training mode (dropout would make the maps
// random) and check_input's errors for a bad input.
std::vector<torch::Tensor> attention_maps(VisionTransformerImpl& model, const torch::Tensor& images);

// Throws the InvalidValue attention_maps throws in training mode.
void require_evaluation_mode(const VisionTransformerImpl& model);

// The attention rollout of those maps (model/attention_rollout.h) over the model's patch grid, input_shape /
// patch_size: [N, gridH, gridW] float32. Throws InvalidValue for a model without blocks, as attention_maps does
// otherwise.
torch::Tensor attention_rollout(VisionTransformerImpl& model, const torch::Tensor& images,
                                const RolloutOptions& options);

}  // namespace vitorch::model
