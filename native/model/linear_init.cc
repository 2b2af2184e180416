#include "model/linear_init.h"

#include <torch/csrc/autograd/grad_mode.h>

namespace vitorch::model {

namespace {

thread_local bool skip_linear_init = false;

}  // namespace

SkipLinearInit::SkipLinearInit() : previous_(skip_linear_init) { skip_linear_init = true; }

SkipLinearInit::~SkipLinearInit() { skip_linear_init = previous_; }

torch::nn::Linear make_linear(const torch::nn::LinearOptions& options) {
  if (!skip_linear_init) return torch::nn::Linear(options);
  torch::nn::Linear linear(torch::nn::LinearOptions(options).out_features(0));
  linear->options = options;
  torch::NoGradGuard no_grad;
  const auto tensor_options = linear->weight.options();
  linear->weight.set_data(torch::empty({options.out_features(), options.in_features()}, tensor_options));
  if (options.bias()) linear->bias.set_data(torch::empty({options.out_features()}, tensor_options));
  return linear;
}

}  // namespace vitorch::model
