#include "model/mlp.h"

#include <c10/core/GradMode.h>

#include "model/linear_init.h"

namespace vitorch::model {

MlpImpl::MlpImpl(MlpOptions options_) : options(std::move(options_)) { reset(); }

void MlpImpl::reset() {
  fc1 = register_module("fc1", make_linear(torch::nn::LinearOptions(options.in_features(), options.hidden_features())));
  act = register_module("act", GELU(options.activation()));
  drop1 = register_module("drop1", torch::nn::Dropout(options.drop()));
  fc2 =
      register_module("fc2", make_linear(torch::nn::LinearOptions(options.hidden_features(), options.out_features())));
  drop2 = register_module("drop2", torch::nn::Dropout(options.drop()));
}

torch::Tensor MlpImpl::forward(const torch::Tensor& x) {
  if (!is_training() && PreparedLinear::applies(*fc1, x)) {
    // Dropout is the identity outside training.
    auto hidden = fc1_prepared.forward(*fc1, x, gelu_epilogue(options.activation()));
    return fc2_prepared.forward(*fc2, hidden, LinearEpilogue::kNone);
  }
  auto hidden = fc1(x);
  // fc1's output is this call's own; without autograd the activation can overwrite it.
  hidden = c10::GradMode::is_enabled() ? act(hidden) : act->forward_in_place(hidden);
  return drop2(fc2(drop1(hidden)));
}

}  // namespace vitorch::model
