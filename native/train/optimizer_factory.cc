#include "train/optimizer_factory.h"

#include <torch/optim/adam.h>
#include <torch/optim/adamw.h>
#include <torch/optim/sgd.h>

#include <cmath>
#include <map>
#include <set>

#include "common/describe.h"
#include "common/errors.h"
#include "train/fused_adam.h"

namespace vitorch::train {
namespace {

void require_range(double value, double low, double high, const char* name, bool high_inclusive) {
  const bool ok = std::isfinite(value) && value >= low && (high_inclusive ? value <= high : value < high);
  if (!ok) {
    throw InvalidValue(std::string("expected ") + name + " in [" + format_number(low) + ", " + format_number(high) +
                       (high_inclusive ? "]" : ")") + ", received " + format_number(value));
  }
}

void validate(const OptimizerSpec& s) {
  require_range(s.lr, 0.0, INFINITY, "lr", false);
  require_range(s.weight_decay, 0.0, INFINITY, "weightDecay", false);
  if (s.kind == OptimizerKind::kSgd) {
    require_range(s.momentum, 0.0, INFINITY, "momentum", false);
    require_range(s.dampening, 0.0, 1.0, "dampening", true);
    // PyTorch's rule: Nesterov momentum needs momentum and no dampening.
    if (s.nesterov && (s.momentum <= 0.0 || s.dampening != 0.0)) {
      throw InvalidValue("expected momentum > 0 and dampening 0 for nesterov, received momentum " +
                         format_number(s.momentum) + " and dampening " + format_number(s.dampening));
    }
  } else {
    require_range(s.beta1, 0.0, 1.0, "betas[0]", false);
    require_range(s.beta2, 0.0, 1.0, "betas[1]", false);
    require_range(s.eps, 0.0, INFINITY, "eps", false);
  }
}

std::unique_ptr<torch::optim::OptimizerOptions> options_for(const OptimizerSpec& s, double weight_decay) {
  switch (s.kind) {
    case OptimizerKind::kSgd:
      return std::make_unique<torch::optim::SGDOptions>(torch::optim::SGDOptions(s.lr)
                                                            .momentum(s.momentum)
                                                            .dampening(s.dampening)
                                                            .nesterov(s.nesterov)
                                                            .weight_decay(weight_decay));
    case OptimizerKind::kAdam:
      return std::make_unique<torch::optim::AdamOptions>(torch::optim::AdamOptions(s.lr)
                                                             .betas({s.beta1, s.beta2})
                                                             .eps(s.eps)
                                                             .amsgrad(s.amsgrad)
                                                             .weight_decay(weight_decay));
    case OptimizerKind::kAdamW:
      return std::make_unique<torch::optim::AdamWOptions>(torch::optim::AdamWOptions(s.lr)
                                                              .betas({s.beta1, s.beta2})
                                                              .eps(s.eps)
                                                              .amsgrad(s.amsgrad)
                                                              .weight_decay(weight_decay));
  }
  throw InvalidValue("unknown optimizer kind");
}

}  // namespace

const char* optimizer_kind_name(OptimizerKind kind) {
  switch (kind) {
    case OptimizerKind::kSgd: return "sgd";
    case OptimizerKind::kAdam: return "adam";
    case OptimizerKind::kAdamW: return "adamw";
  }
  return "?";
}

BuiltOptimizer build_optimizer(const OptimizerSpec& spec, const NamedParameters& parameters) {
  validate(spec);
  std::map<std::string, torch::Tensor> by_name(parameters.begin(), parameters.end());
  std::vector<ParameterGroupSpec> groups = spec.groups;
  if (groups.empty()) {
    ParameterGroupSpec all;
    for (const auto& [name, tensor] : parameters) all.names.push_back(name);
    groups.push_back(std::move(all));
  }

  BuiltOptimizer built;
  built.kind = spec.kind;
  std::vector<torch::optim::OptimizerParamGroup> param_groups;
  std::set<std::string> grouped;
  std::vector<double> group_weight_decays;
  for (size_t g = 0; g < groups.size(); ++g) {
    const auto& group = groups[g];
    const auto where = "parameter group " + std::to_string(g);
    if (group.weight_decay) require_range(*group.weight_decay, 0.0, INFINITY, (where + " weightDecay").c_str(), false);
    require_range(group.lr_scale, 0.0, INFINITY, (where + " lrScale").c_str(), false);
    std::vector<torch::Tensor> tensors;
    for (const auto& name : group.names) {
      const auto found = by_name.find(name);
      if (found == by_name.end()) {
        throw InvalidValue("expected " + where + " to name parameters of the model, received '" + name + "'");
      }
      if (!grouped.insert(name).second) {
        throw InvalidValue("expected each parameter in one group only, received '" + name + "' again in " + where);
      }
      tensors.push_back(found->second);
    }
    group_weight_decays.push_back(group.weight_decay.value_or(spec.weight_decay));
    param_groups.emplace_back(std::move(tensors), options_for(spec, group_weight_decays.back()));
    built.lr_scales.push_back(group.lr_scale);
    built.group_names.push_back(group.names);
  }

  const auto defaults = options_for(spec, spec.weight_decay);
  switch (spec.kind) {
    case OptimizerKind::kSgd:
      built.optimizer =
          std::make_unique<torch::optim::SGD>(param_groups, static_cast<const torch::optim::SGDOptions&>(*defaults));
      break;
    case OptimizerKind::kAdam: {
      const auto& options = static_cast<const torch::optim::AdamOptions&>(*defaults);
      built.optimizer = spec.fused ? std::make_unique<FusedAdam>(param_groups, options)
                                   : std::make_unique<torch::optim::Adam>(param_groups, options);
      break;
    }
    case OptimizerKind::kAdamW: {
      const auto& options = static_cast<const torch::optim::AdamWOptions&>(*defaults);
      built.optimizer = spec.fused ? std::make_unique<FusedAdamW>(param_groups, options)
                                   : std::make_unique<torch::optim::AdamW>(param_groups, options);
      break;
    }
  }
  // libtorch from 2.12 on merges each group's options with the optimizer's defaults, taking a value equal to the
  // options class's own default as "not set": a group's weight decay of 0 would become the optimizer's (AdamW's
  // 0.05). Each group's options are set again after construction, which assigns them as they are.
  for (size_t g = 0; g < group_weight_decays.size(); ++g) {
    built.optimizer->param_groups()[g].set_options(options_for(spec, group_weight_decays[g]));
  }
  set_learning_rate(built, spec.lr);
  return built;
}

void set_learning_rate(BuiltOptimizer& built, double lr) {
  require_range(lr, 0.0, INFINITY, "lr", false);
  auto& groups = built.optimizer->param_groups();
  for (size_t g = 0; g < groups.size(); ++g) groups[g].options().set_lr(lr * built.lr_scales[g]);
}

double weight_decay_of(const BuiltOptimizer& built, size_t group) {
  const auto& options = built.optimizer->param_groups().at(group).options();
  switch (built.kind) {
    case OptimizerKind::kSgd: return static_cast<const torch::optim::SGDOptions&>(options).weight_decay();
    case OptimizerKind::kAdam: return static_cast<const torch::optim::AdamOptions&>(options).weight_decay();
    case OptimizerKind::kAdamW: return static_cast<const torch::optim::AdamWOptions&>(options).weight_decay();
  }
  return 0.0;
}

namespace {

int64_t host_bytes(const torch::Tensor& tensor) {
  return tensor.defined() && tensor.device().is_cpu() ? static_cast<int64_t>(tensor.nbytes()) : 0;
}

template <typename AdamState>
int64_t adam_state_bytes(const torch::optim::OptimizerParamState& state) {
  const auto& s = static_cast<const AdamState&>(state);
  return host_bytes(s.exp_avg()) + host_bytes(s.exp_avg_sq()) + host_bytes(s.max_exp_avg_sq());
}

}  // namespace

int64_t state_host_bytes(const BuiltOptimizer& built) {
  int64_t bytes = 0;
  for (const auto& [parameter, state] : built.optimizer->state()) {
    switch (built.kind) {
      case OptimizerKind::kSgd:
        bytes += host_bytes(static_cast<const torch::optim::SGDParamState&>(*state).momentum_buffer());
        break;
      case OptimizerKind::kAdam: bytes += adam_state_bytes<torch::optim::AdamParamState>(*state); break;
      case OptimizerKind::kAdamW: bytes += adam_state_bytes<torch::optim::AdamWParamState>(*state); break;
    }
  }
  return bytes;
}

}  // namespace vitorch::train
