// Attention rollout (Abnar and Zuidema, "Quantifying Attention Flow in Transformers", 2020) with the discard rule of
// issue 20, per row:
//  1. each block's heads are fused by their mean, maximum or minimum: A, [T, T];
//  2. in each row of A, the lowest int((T - 1) * discard_ratio) entries among columns 1..T-1 are set to 0; column 0,
//     attention to the class token, is never dropped. Ties at the cut go by column: of equal values the lowest
//     column is dropped first (a stable sort);
//  3. (A + I) / 2, each row divided by its own sum;
//  4. the product A_L ... A_1 over the blocks;
//  5. the class token's row over the patches, divided by its maximum (a row of zeros stays zeros).
// jacobgil/vit-explain (vit_rollout.py, commit 15a81d3), which users compare against, discards differently: the lowest
// int(T * T * discard_ratio) entries of the whole flattened A, sparing A[0, 0] only, so some rows lose far more than
// others. It also discards in the first image of a batch only and divides by `a.sum(dim=-1)` without keepdim, which
// scales column j by row j's sum (its issue #16). With one image and discard_ratio 0 the two agree up to rounding;
// otherwise they differ by design.
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
  // vit-explain's VITAttentionRollout defaults (its ratio applies to the whole matrix there, to each row here).
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
