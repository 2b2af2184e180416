#include "model/attention_rollout.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include "common/describe.h"
#include "common/errors.h"

namespace vitorch::model {
namespace {

void check_maps(const std::vector<torch::Tensor>& maps, std::array<int64_t, 2> grid) {
  if (maps.empty()) throw InvalidValue("expected the attention maps of at least one block, received none");
  const auto& first = maps.front();
  const bool square = first.dim() == 4 && first.size(0) >= 1 && first.size(1) >= 1 && first.size(2) == first.size(3);
  if (!square) {
    throw InvalidValue("expected attention maps of shape [N, heads, T, T], received " + format_shape(first.sizes()) +
                       " for block 0");
  }
  for (size_t i = 0; i < maps.size(); ++i) {
    if (!c10::isFloatingType(maps[i].scalar_type())) {
      throw InvalidType("expected floating-point attention maps, received " +
                        std::string(dtype_name(maps[i].scalar_type())) + " for block " + std::to_string(i));
    }
    if (maps[i].sizes() != first.sizes() || maps[i].device() != first.device()) {
      throw InvalidValue("expected every block's attention maps to have block 0's shape " +
                         format_shape(first.sizes()) + " on " + first.device().str() + ", received " +
                         format_shape(maps[i].sizes()) + " on " + maps[i].device().str() + " for block " +
                         std::to_string(i));
    }
  }
  const auto patches = first.size(3) - 1;
  if (grid[0] < 1 || grid[1] < 1 || grid[0] * grid[1] != patches) {
    throw InvalidValue("expected a grid [gridH, gridW] of the maps' " + std::to_string(patches) +
                       " patches (T - 1), received " + format_shape(std::vector<int64_t>{grid[0], grid[1]}));
  }
}

torch::Tensor fuse_heads(const torch::Tensor& map, HeadFusion fusion) {
  switch (fusion) {
    case HeadFusion::kMax: return map.amax(1);
    case HeadFusion::kMin: return map.amin(1);
    case HeadFusion::kMean:
    default: return map.mean(1);
  }
}

// In each row of each [T, T] matrix of `fused` ([N, T, T]), zeroes the lowest `count` entries of columns 1..T-1: the
// class token's column 0 never competes. A stable ascending sort breaks ties at the cut by index, so of equal values
// the lowest column is dropped first; topk promises no order among ties, and tools/attention_reference.py must
// reproduce the choice exactly.
void discard_lowest(torch::Tensor& fused, int64_t count) {
  auto patches = fused.narrow(-1, 1, fused.size(-1) - 1);
  const auto order = std::get<1>(patches.sort(/*stable=*/true, /*dim=*/-1, /*descending=*/false));
  patches.scatter_(-1, order.narrow(-1, 0, count), 0.0);
}

}  // namespace

void validate(const RolloutOptions& options) {
  if (!(options.discard_ratio() >= 0.0 && options.discard_ratio() < 1.0)) {
    throw InvalidValue("expected discardRatio in [0, 1), received " + format_number(options.discard_ratio()));
  }
}

std::optional<HeadFusion> head_fusion_from_name(const std::string& name) {
  if (name == "mean") return HeadFusion::kMean;
  if (name == "max") return HeadFusion::kMax;
  if (name == "min") return HeadFusion::kMin;
  return std::nullopt;
}

torch::Tensor attention_rollout(const std::vector<torch::Tensor>& maps, std::array<int64_t, 2> grid,
                                const RolloutOptions& options) {
  validate(options);
  check_maps(maps, grid);
  c10::InferenceMode inference;
  const auto batch = maps.front().size(0);
  const auto length = maps.front().size(3);
  // Python's int((T - 1) * discard_ratio), as the reference computes it: the product in double, truncated. Below 1,
  // so at least one entry besides the class token's survives in every row.
  const auto discarded = static_cast<int64_t>(static_cast<double>(length - 1) * options.discard_ratio());
  const auto identity = torch::eye(length, maps.front().options().dtype(torch::kFloat32));
  torch::Tensor flow;
  for (const auto& map : maps) {
    auto fused = fuse_heads(map.to(torch::kFloat32), options.head_fusion()).contiguous();
    if (discarded > 0) discard_lowest(fused, discarded);
    auto step = fused.add_(identity).div_(2);
    step.div_(step.sum(-1, /*keepdim=*/true));
    flow = flow.defined() ? at::matmul(step, flow) : step;
  }
  auto mask = flow.select(1, 0).narrow(-1, 1, length - 1);
  const auto peak = mask.amax(-1, /*keepdim=*/true);
  mask = torch::where(peak > 0, mask / peak, mask);
  return mask.reshape({batch, grid[0], grid[1]});
}

}  // namespace vitorch::model
