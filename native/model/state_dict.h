// Copying named tensors (a checkpoint's state_dict) into a module's parameters and buffers, with PyTorch's
// load_state_dict rules: every problem is found first and reported together, and nothing is copied unless
// everything fits.
#pragma once

#include <torch/nn/module.h>

#include <string>
#include <utility>
#include <vector>

namespace vitorch::model {

using NamedTensors = std::vector<std::pair<std::string, torch::Tensor>>;
// Keys and shapes only: what a checkpoint index knows before any tensor data is read.
using NamedShapes = std::vector<std::pair<std::string, std::vector<int64_t>>>;

struct ShapeMismatch {
  std::string key;
  std::vector<int64_t> model_shape;
  std::vector<int64_t> checkpoint_shape;
};

struct LoadReport {
  std::vector<std::string> missing_keys;     // in the model, not in the checkpoint
  std::vector<std::string> unexpected_keys;  // in the checkpoint, not in the model
  std::vector<ShapeMismatch> shape_mismatches;
  // What was done to the checkpoint on the way in (unwrapping, adaptation), one line each.
  std::vector<std::string> notes;
};

// Compares without copying anything.
LoadReport compare_state_dict(const torch::nn::Module& module, const NamedShapes& state);

// The checks of load_state_dict, on shapes, without copying anything: throws the same StateDictError it would, or
// returns the report (missing and unexpected keys when not strict).
LoadReport check_state_dict(const torch::nn::Module& module, const NamedShapes& state, bool strict);

NamedShapes shapes_of(const NamedTensors& state);

// Strict: any missing or unexpected key, or any shape mismatch, throws StateDictError listing every one by name and
// shape. Not strict: missing and unexpected keys are allowed and returned; a shape mismatch still throws, as in
// PyTorch, since no value could be loaded for that key. Values are converted to each parameter's dtype and device.
LoadReport load_state_dict(torch::nn::Module& module, const NamedTensors& state, bool strict);

// The module's parameters and buffers by state_dict key, sharing memory with the module (no copy), detached from
// autograd as PyTorch's state_dict() is.
NamedTensors state_dict(const torch::nn::Module& module);

}  // namespace vitorch::model
