#include "train/fused_adam.h"

#include <ATen/ops/_fused_adam.h>
#include <ATen/ops/_fused_adamw.h>
#include <torch/torch.h>

#include <memory>
#include <vector>

namespace vitorch::train {
namespace {

// The tensors of one group that the kernel updates, in parameter order.
struct GroupTensors {
  std::vector<torch::Tensor> params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, steps;
};

// The kernel reads each parameter's step count as a float tensor and expects it already incremented; the count
// itself stays in the torch::optim state (an integer), which is what save() writes.
template <typename State>
GroupTensors gather(torch::optim::OptimizerParamGroup& group,
                    ska::flat_hash_map<void*, std::unique_ptr<torch::optim::OptimizerParamState>>& states,
                    bool amsgrad) {
  GroupTensors t;
  for (auto& p : group.params()) {
    if (!p.grad().defined()) continue;
    TORCH_CHECK(!p.grad().is_sparse(), "Adam does not support sparse gradients");
    auto& slot = states[p.unsafeGetTensorImpl()];
    if (!slot) {
      auto state = std::make_unique<State>();
      state->step(0);
      state->exp_avg(torch::zeros_like(p, torch::MemoryFormat::Preserve));
      state->exp_avg_sq(torch::zeros_like(p, torch::MemoryFormat::Preserve));
      if (amsgrad) state->max_exp_avg_sq(torch::zeros_like(p, torch::MemoryFormat::Preserve));
      slot = std::move(state);
    }
    auto& state = static_cast<State&>(*slot);
    // A state loaded from an archive written without amsgrad has no max_exp_avg_sq yet.
    if (amsgrad && !state.max_exp_avg_sq().defined()) {
      state.max_exp_avg_sq(torch::zeros_like(p, torch::MemoryFormat::Preserve));
    }
    state.step(state.step() + 1);
    t.params.push_back(p);
    t.grads.push_back(p.grad());
    t.exp_avgs.push_back(state.exp_avg());
    t.exp_avg_sqs.push_back(state.exp_avg_sq());
    if (amsgrad) t.max_exp_avg_sqs.push_back(state.max_exp_avg_sq());
    t.steps.push_back(torch::full({}, static_cast<double>(state.step()),
                                  torch::TensorOptions().dtype(torch::kFloat32).device(p.device())));
  }
  return t;
}

template <typename State, typename Options, typename Kernel>
torch::Tensor fused_step(torch::optim::Optimizer& optimizer, const torch::optim::Optimizer::LossClosure& closure,
                         Kernel kernel) {
  torch::NoGradGuard no_grad;
  torch::Tensor loss;
  if (closure) {
    at::AutoGradMode enable_grad(true);
    loss = closure();
  }
  for (auto& group : optimizer.param_groups()) {
    const auto& options = static_cast<const Options&>(group.options());
    auto t = gather<State>(group, optimizer.state(), options.amsgrad());
    if (t.params.empty()) continue;
    const auto [beta1, beta2] = options.betas();
    kernel(t.params, t.grads, t.exp_avgs, t.exp_avg_sqs, t.max_exp_avg_sqs, t.steps, options.lr(), beta1, beta2,
           options.weight_decay(), options.eps(), options.amsgrad(), /*maximize=*/false);
    // The kernel writes through data pointers without bumping the parameters' version counters (PyTorch's own
    // fused step leaves `_version` unchanged too), so caches keyed by version, such as the model's resampled
    // position embedding, would keep serving the weights of before the step.
    for (auto& p : t.params) p.unsafeGetTensorImpl()->bump_version();
  }
  return loss;
}

}  // namespace

torch::Tensor FusedAdam::step(LossClosure closure) {
  return fused_step<torch::optim::AdamParamState, torch::optim::AdamOptions>(
      *this, closure, [](auto&&... args) { at::_fused_adam_(args...); });
}

torch::Tensor FusedAdamW::step(LossClosure closure) {
  return fused_step<torch::optim::AdamWParamState, torch::optim::AdamWOptions>(
      *this, closure, [](auto&&... args) { at::_fused_adamw_(args...); });
}

}  // namespace vitorch::train
