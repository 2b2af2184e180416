// Builds a torch::optim optimizer over a model's named parameters from an OptimizerSpec, and sets the learning
// rate of its groups. Every parameter of a group is in the optimizer even while it is frozen: torch::optim skips a
// parameter whose gradient is undefined (weight decay included), so freezing needs no rebuilt optimizer.
#pragma once

#include <torch/optim/optimizer.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "train/optimizer_spec.h"

namespace vitorch::train {

using NamedParameters = std::vector<std::pair<std::string, torch::Tensor>>;

struct BuiltOptimizer {
  // Which rule `optimizer` runs, kept from the spec so that nothing has to find it out again with dynamic_cast: the
  // type of each group's options and each parameter's state follows from it.
  OptimizerKind kind = OptimizerKind::kSgd;
  std::unique_ptr<torch::optim::Optimizer> optimizer;
  // Per group, in the optimizer's group order.
  std::vector<double> lr_scales;
  std::vector<std::vector<std::string>> group_names;
};

// Throws InvalidValue naming the parameter when a group names an unknown or already grouped parameter, or when a
// hyper-parameter is out of range.
BuiltOptimizer build_optimizer(const OptimizerSpec& spec, const NamedParameters& parameters);

// Group g's learning rate becomes lr * lr_scales[g].
void set_learning_rate(BuiltOptimizer& built, double lr);

// Group g's weight decay as the optimizer holds it now (a loaded state restores the saved groups' options).
double weight_decay_of(const BuiltOptimizer& built, size_t group);

// Bytes of the optimizer's per-parameter state (SGD's momentum buffers, Adam's moments) in host memory.
int64_t state_host_bytes(const BuiltOptimizer& built);

}  // namespace vitorch::train
