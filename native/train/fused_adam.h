// Adam and AdamW whose update runs ATen's fused kernel (the one behind PyTorch's `fused=True`): one pass over each
// parameter instead of the dozen elementwise operations of torch::optim's step, which on a ViT-B/16 is the
// difference between about 180 and 60 ms per step on 2 cores. The update rule is still libtorch's, not ours, and
// the state is torch::optim's own AdamParamState / AdamWParamState, so save(), load() and training-state files are
// the same whichever step ran.
#pragma once

#include <torch/optim/adam.h>
#include <torch/optim/adamw.h>

namespace vitorch::train {

class FusedAdam : public torch::optim::Adam {
 public:
  using torch::optim::Adam::Adam;
  torch::Tensor step(LossClosure closure = nullptr) override;
};

class FusedAdamW : public torch::optim::AdamW {
 public:
  using torch::optim::AdamW::AdamW;
  torch::Tensor step(LossClosure closure = nullptr) override;
};

}  // namespace vitorch::train
