#include "model/checkpoint_loading.h"

#include <torch/csrc/autograd/grad_mode.h>

#include <unordered_map>
#include <utility>
#include <vector>

#include "common/errors.h"

namespace vitorch::model {

namespace {

// One entry of the index as a CPU tensor of its own dtype and shape.
torch::Tensor read_entry(const checkpoint::CheckpointIndex& index, size_t entry) {
  const torch::Tensor& meta = index.meta(entry);
  std::vector<torch::Tensor> destinations(index.size());
  destinations[entry] = torch::empty(meta.sizes(), torch::TensorOptions().dtype(meta.scalar_type()));
  index.read_into(destinations);
  return destinations[entry];
}

// Reads every entry that is to be written, one at a time into a scratch tensor, so that whatever only the data can
// show (a CRC mismatch, a bool byte other than 0 or 1, a short read) is found before the model changes.
void check_data_before_writing(const checkpoint::CheckpointIndex& index,
                               const std::vector<torch::Tensor>& destinations) {
  std::vector<torch::Tensor> scratch(index.size());
  for (size_t i = 0; i < index.size(); ++i) {
    if (!destinations[i].defined()) continue;
    scratch[i] = torch::empty(index.meta(i).sizes(), torch::TensorOptions().dtype(index.meta(i).scalar_type()));
    index.read_into(scratch);
    scratch[i] = torch::Tensor();
  }
}

}  // namespace

LoadReport load_index_into_model(VisionTransformerImpl& model, const checkpoint::CheckpointIndex& index,
                                 const ModelLoadOptions& options) {
  using Source = AdaptationStep::Source;
  NamedShapes checkpoint_shapes;
  checkpoint_shapes.reserve(index.size());
  for (size_t i = 0; i < index.size(); ++i) checkpoint_shapes.emplace_back(index.name(i), index.meta(i).sizes().vec());

  std::vector<std::string> adaptation_notes;
  const auto steps = plan_adaptation(model, checkpoint_shapes, options.adaptation, adaptation_notes);
  NamedShapes planned;
  planned.reserve(steps.size());
  for (const auto& step : steps) planned.emplace_back(step.key, step.sizes);
  // Throws StateDictError, listing every problem, before anything is read or written.
  LoadReport report = check_state_dict(model, planned, options.strict);

  // The step that loads each key: the last one with that key, as load_state_dict takes the last tensor of a key.
  std::unordered_map<std::string, const AdaptationStep*> step_for_key;
  for (const auto& step : steps) step_for_key[step.key] = &step;

  // Each model tensor names the checkpoint entry it is read from; a pos_embed to resample is read and resampled
  // now, still before any parameter changes. A kept head (Source::kModel) stays as it is.
  std::vector<torch::Tensor> destinations(index.size());
  std::vector<std::pair<torch::Tensor, torch::Tensor>> adapted;  // (model tensor, value)
  for (const auto& [key, target] : state_dict(model)) {
    const auto found = step_for_key.find(key);
    if (found == step_for_key.end()) continue;
    const AdaptationStep& step = *found->second;
    if (step.source == Source::kCheckpoint) {
      destinations[step.entry] = target;
    } else if (step.source == Source::kResampledPosEmbed) {
      adapted.emplace_back(target, adapted_value(step, read_entry(index, step.entry)));
    }
  }

  if (options.all_or_nothing) check_data_before_writing(index, destinations);

  // Writing into leaf parameters that require grad is only allowed outside autograd.
  torch::NoGradGuard no_grad;
  size_t written = 0;
  try {
    index.read_into(destinations, &written);
  } catch (const CheckpointError& error) {
    if (written == 0) throw;
    throw CheckpointError(std::string(error.what()) +
                          " (found while loading it into the model, after some of the model's parameters had been "
                          "overwritten: the model now holds a mix of its previous values and the checkpoint's)");
  }
  for (auto& [target, value] : adapted) target.copy_(value);

  report.notes = index.notes();
  report.notes.insert(report.notes.end(), adaptation_notes.begin(), adaptation_notes.end());
  return report;
}

LoadReport load_file_into_model(VisionTransformerImpl& model, const std::string& path,
                                const ModelLoadOptions& options) {
  const auto index = checkpoint::CheckpointIndex::open(path, options.read);
  return load_index_into_model(model, index, options);
}

}  // namespace vitorch::model
