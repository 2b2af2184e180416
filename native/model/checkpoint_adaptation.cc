#include "model/checkpoint_adaptation.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "common/describe.h"

namespace vitorch::model {
namespace {

// The side of the square grid a pos_embed of `rows` rows (class row included) was made for, or 0 if none.
int64_t square_grid_side(int64_t rows) {
  if (rows < 2) return 0;
  const auto side = static_cast<int64_t>(std::llround(std::sqrt(static_cast<double>(rows - 1))));
  return side * side == rows - 1 ? side : 0;
}

torch::Tensor resample_position_table(const torch::Tensor& table, int64_t from_side, int64_t to_side) {
  const auto dim = table.size(2);
  auto class_row = table.narrow(1, 0, 1);
  auto grid = table.narrow(1, 1, from_side * from_side).reshape({1, from_side, from_side, dim}).permute({0, 3, 1, 2});
  // Resampled in float32 at least, as interpolation of half-precision grids loses more than the checkpoint holds.
  const auto original_dtype = grid.scalar_type();
  grid = at::upsample_bicubic2d(grid.to(at::promote_types(original_dtype, torch::kFloat32)), {to_side, to_side},
                                /*align_corners=*/false)
             .to(original_dtype);
  return torch::cat({class_row, grid.permute({0, 2, 3, 1}).reshape({1, to_side * to_side, dim})}, 1);
}

}  // namespace

std::vector<AdaptationStep> plan_adaptation(const VisionTransformerImpl& model, const NamedShapes& checkpoint,
                                            const AdaptationOptions& options, std::vector<std::string>& notes) {
  using Source = AdaptationStep::Source;
  const auto model_state = model::state_dict(model);
  auto model_tensor = [&](const std::string& key) -> const torch::Tensor* {
    for (const auto& [name, value] : model_state) {
      if (name == key) return &value;
    }
    return nullptr;
  };

  std::vector<AdaptationStep> steps;
  steps.reserve(checkpoint.size() + 2);
  for (size_t entry = 0; entry < checkpoint.size(); ++entry) {
    const std::string& key = checkpoint[entry].first;
    const c10::IntArrayRef shape(checkpoint[entry].second);
    const auto* target = model_tensor(key);
    const bool fits = target != nullptr && target->sizes() == shape;

    if (options.resample_pos_embed && key == "pos_embed" && target != nullptr && !fits && shape.size() == 3 &&
        shape[0] == 1 && shape[2] == target->size(2)) {
      const auto from_side = square_grid_side(shape[1]);
      const auto to_side = square_grid_side(target->size(1));
      if (from_side > 0 && to_side > 0) {
        notes.push_back("pos_embed: resampled the checkpoint's " + std::to_string(from_side) + "x" +
                        std::to_string(from_side) + " position grid " + format_shape(shape) + " to the model's " +
                        std::to_string(to_side) + "x" + std::to_string(to_side) + " " + format_shape(target->sizes()) +
                        " (bicubic, align_corners=false)");
        // The class row, then the resampled grid.
        steps.push_back(
            {key, Source::kResampledPosEmbed, entry, {1, 1 + to_side * to_side, shape[2]}, from_side, to_side});
        continue;
      }
    }

    if (options.keep_model_head && (key == "head.weight" || key == "head.bias") && !fits) {
      notes.push_back(key + ": the checkpoint's " + format_shape(shape) + " does not fit the model's " +
                      (target ? format_shape(target->sizes()) : std::string("head (none)")) +
                      "; kept the model's own head");
      // The model's current values stand in, so strict loading still sees every key it expects.
      if (target != nullptr) steps.push_back({key, Source::kModel, 0, target->sizes().vec()});
      continue;
    }
    steps.push_back({key, Source::kCheckpoint, entry, checkpoint[entry].second});
  }

  // A checkpoint without a head (e.g. features only) loading into a model with one: keep the model's.
  if (options.keep_model_head) {
    for (const char* key : {"head.weight", "head.bias"}) {
      const auto* target = model_tensor(key);
      const bool present = std::any_of(steps.begin(), steps.end(), [&](const auto& step) { return step.key == key; });
      if (target != nullptr && !present) {
        notes.push_back(std::string(key) + ": not in the checkpoint; kept the model's own head");
        steps.push_back({key, Source::kModel, 0, target->sizes().vec()});
      }
    }
  }
  return steps;
}

torch::Tensor adapted_value(const AdaptationStep& step, torch::Tensor checkpoint_value) {
  switch (step.source) {
    case AdaptationStep::Source::kCheckpoint: return checkpoint_value;
    case AdaptationStep::Source::kResampledPosEmbed:
      return resample_position_table(checkpoint_value, step.from_side, step.to_side);
    case AdaptationStep::Source::kModel: break;
  }
  throw std::logic_error("adapted_value: the step '" + step.key + "' loads the model's own value");
}

NamedTensors adapt_state_dict(const VisionTransformerImpl& model, NamedTensors state, const AdaptationOptions& options,
                              std::vector<std::string>& notes) {
  const auto steps = plan_adaptation(model, shapes_of(state), options, notes);
  const auto model_state = model::state_dict(model);
  NamedTensors adapted;
  adapted.reserve(steps.size());
  for (const auto& step : steps) {
    if (step.source != AdaptationStep::Source::kModel) {
      adapted.emplace_back(step.key, adapted_value(step, std::move(state[step.entry].second)));
      continue;
    }
    for (const auto& [name, value] : model_state) {
      if (name == step.key) adapted.emplace_back(step.key, value);
    }
  }
  return adapted;
}

LoadReport load_into_model(VisionTransformerImpl& model, NamedTensors state, const ModelLoadOptions& options) {
  std::vector<std::string> notes;
  auto adapted = adapt_state_dict(model, std::move(state), options.adaptation, notes);
  auto report = load_state_dict(model, adapted, options.strict);
  report.notes = std::move(notes);
  return report;
}

}  // namespace vitorch::model
