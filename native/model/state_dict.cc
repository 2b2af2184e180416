#include "model/state_dict.h"

#include <torch/csrc/autograd/grad_mode.h>

#include <unordered_map>
#include <unordered_set>

#include "common/describe.h"
#include "common/errors.h"

namespace vitorch::model {
namespace {

std::string describe(const LoadReport& report, const NamedShapes& state, const NamedTensors& model_state) {
  std::unordered_map<std::string, const std::vector<int64_t>*> in_checkpoint;
  std::unordered_map<std::string, const torch::Tensor*> in_model;
  for (const auto& [key, sizes] : state) in_checkpoint[key] = &sizes;
  for (const auto& [key, value] : model_state) in_model[key] = &value;

  std::string text = "the checkpoint does not fit the model:";
  if (!report.missing_keys.empty()) {
    text +=
        "\n  missing keys (" + std::to_string(report.missing_keys.size()) + "), in the model but not the checkpoint:";
    for (const auto& key : report.missing_keys) text += "\n    " + key + " " + format_shape(in_model[key]->sizes());
  }
  if (!report.unexpected_keys.empty()) {
    text += "\n  unexpected keys (" + std::to_string(report.unexpected_keys.size()) +
            "), in the checkpoint but not the model:";
    for (const auto& key : report.unexpected_keys) {
      text += "\n    " + key + " " + format_shape(*in_checkpoint[key]);
    }
  }
  if (!report.shape_mismatches.empty()) {
    text += "\n  shape mismatches (" + std::to_string(report.shape_mismatches.size()) + "):";
    for (const auto& mismatch : report.shape_mismatches) {
      text += "\n    " + mismatch.key + ": checkpoint has " + format_shape(mismatch.checkpoint_shape) +
              ", model expects " + format_shape(mismatch.model_shape);
    }
  }
  return text;
}

}  // namespace

NamedTensors state_dict(const torch::nn::Module& module) {
  NamedTensors entries;
  for (const auto& item : module.named_parameters()) entries.emplace_back(item.key(), item.value().detach());
  for (const auto& item : module.named_buffers()) entries.emplace_back(item.key(), item.value().detach());
  return entries;
}

NamedShapes shapes_of(const NamedTensors& state) {
  NamedShapes shapes;
  shapes.reserve(state.size());
  for (const auto& [key, value] : state) shapes.emplace_back(key, value.sizes().vec());
  return shapes;
}

LoadReport compare_state_dict(const torch::nn::Module& module, const NamedShapes& state) {
  const auto model_state = state_dict(module);
  std::unordered_map<std::string, const std::vector<int64_t>*> in_checkpoint;
  for (const auto& [key, sizes] : state) in_checkpoint[key] = &sizes;

  LoadReport report;
  std::unordered_set<std::string> model_keys;
  for (const auto& [key, target] : model_state) {
    model_keys.insert(key);
    const auto found = in_checkpoint.find(key);
    if (found == in_checkpoint.end()) {
      report.missing_keys.push_back(key);
    } else if (c10::IntArrayRef(*found->second) != target.sizes()) {
      report.shape_mismatches.push_back({key, target.sizes().vec(), *found->second});
    }
  }
  for (const auto& [key, value] : state) {
    if (!model_keys.count(key)) report.unexpected_keys.push_back(key);
  }
  return report;
}

LoadReport check_state_dict(const torch::nn::Module& module, const NamedShapes& state, bool strict) {
  auto report = compare_state_dict(module, state);
  const bool keys_differ = !report.missing_keys.empty() || !report.unexpected_keys.empty();
  if (!report.shape_mismatches.empty() || (strict && keys_differ)) {
    throw StateDictError(describe(report, state, state_dict(module)));
  }
  return report;
}

LoadReport load_state_dict(torch::nn::Module& module, const NamedTensors& state, bool strict) {
  const auto report = check_state_dict(module, shapes_of(state), strict);
  std::unordered_map<std::string, const torch::Tensor*> in_checkpoint;
  for (const auto& [key, value] : state) in_checkpoint[key] = &value;

  // Writing into leaf parameters that require grad is only allowed outside autograd.
  torch::NoGradGuard no_grad;
  for (auto& [key, target] : state_dict(module)) {
    const auto found = in_checkpoint.find(key);
    if (found != in_checkpoint.end()) target.copy_(*found->second);
  }
  return report;
}

}  // namespace vitorch::model
