// Attention rollout (Abnar and Zuidema, "Quantifying Attention Flow in Transformers", 2020) as jacobgil/vit-explain
// computes it for ViTs (vit_rollout.py, commit 15a81d3), where users compare their maps:
//  1. each block's heads are fused by their mean, maximum or minimum: A, [T, T];
//  2. the lowest int(T * T * discard_ratio) entries of the whole of A (not of each row) are set to 0, except A[0, 0],
//     the class token's attention to itself (vit-explain spares flat index 0 only);
//  3. (A + I) / 2, each row divided by its sum;
//  4. the product A_L ... A_1 over the blocks;
//  5. the class token's row over the patches, divided by its maximum (a row of zeros stays zeros).
// Two accidents of vit-explain are not reproduced: it discards from the first image of a batch only (here each image
// is treated alike), and it divides by `a.sum(dim=-1)` without keepdim, which broadcasts row j's sum over column j
// (its issue #16); here rows are divided by their own sums, as the paper describes. With one image and
// discard_ratio 0 the results agree up to rounding.
#pragma once

#include <torch/arg.h>
#include <torch/types.h>

#include <array>
#include <optional>
#include <string>
#include <vector>

namespace vitorch::model {

enum class HeadFusion { kMean, kMax, kMin };

// "mean", "max" or "min"; nullopt for anything else.
std::optional<HeadFusion> head_fusion_from_name(const std::string& name);

struct RolloutOptions {
  // vit-explain's VITAttentionRollout defaults.
  TORCH_ARG(HeadFusion, head_fusion) = HeadFusion::kMean;
  TORCH_ARG(double, discard_ratio) = 0.9;
};

// Throws InvalidValue unless discard_ratio is in [0, 1).
void validate(const RolloutOptions& options);

// maps: each block's attention probabilities, [N, heads, T, T] (model/attention_maps.h), at least one block, all of
// one shape; grid: [gridH, gridW] with gridH * gridW = T - 1 -> [N, gridH, gridW] float32, on the maps' device.
// Throws InvalidValue naming what was expected when the maps, the grid or discard_ratio (in [0, 1)) do not fit.
torch::Tensor attention_rollout(const std::vector<torch::Tensor>& maps, std::array<int64_t, 2> grid,
                                const RolloutOptions& options = {});

}  // namespace vitorch::model
