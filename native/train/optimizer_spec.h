// What JS asks for when it builds an optimizer: the update rule (libtorch's own torch::optim implementations,
// never ours), its hyper-parameters, and parameter groups named by state_dict key.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace vitorch::train {

enum class OptimizerKind { kSgd, kAdam, kAdamW };

struct ParameterGroupSpec {
  std::vector<std::string> names;
  // Unset: the optimizer's own value.
  std::optional<double> weight_decay;
  // The group's learning rate is the scheduled rate times this (1 by default).
  double lr_scale = 1.0;
};

struct OptimizerSpec {
  OptimizerKind kind = OptimizerKind::kSgd;
  double lr = 1e-2;
  double weight_decay = 0.0;
  // SGD
  double momentum = 0.0;
  double dampening = 0.0;
  bool nesterov = false;
  // Adam, AdamW
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  bool amsgrad = false;
  // ATen's fused kernel for the update (train/fused_adam.h) instead of torch::optim's step; same rule, same state.
  bool fused = true;
  // Empty: one group of every parameter. Parameters named in no group are not optimized (as in PyTorch).
  std::vector<ParameterGroupSpec> groups;
};

const char* optimizer_kind_name(OptimizerKind kind);

}  // namespace vitorch::train
