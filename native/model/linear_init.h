// Building a model whose every parameter is about to be overwritten, without first drawing random initial values
// for it. For ViT-B/16 that is some 85M numbers from libtorch's (serial) generator, about 0.9 s, most of what
// vit({ pretrained }) would otherwise spend.
//
// While a SkipLinearInit lives on a thread, make_linear() on that thread gives torch::nn::Linear layers whose
// weight and bias have their usual shapes but uninitialised memory. Linear layers hold all but about 1% of a
// ViT's parameters; the rest (LayerNorm's ones and zeros, the patch Conv2d, the zero cls_token and pos_embed) are
// cheap and initialised as always. Only for a model that is then strictly loaded (every parameter overwritten) or
// thrown away with the error: vit() (vit_factory.cc).
//
// Only public libtorch API is used: the layer is built with no output features (so reset_parameters() draws
// nothing), then its options are set to the real sizes and its parameters given memory of those sizes with
// set_data, as Module::to does. It is an ordinary torch::nn::Linear afterwards (clone(), pretty_print(), forward).
#pragma once

#include <torch/nn/modules/linear.h>

namespace vitorch::model {

class SkipLinearInit {
 public:
  SkipLinearInit();
  ~SkipLinearInit();
  SkipLinearInit(const SkipLinearInit&) = delete;
  SkipLinearInit& operator=(const SkipLinearInit&) = delete;

 private:
  bool previous_;
};

// torch::nn::Linear(options), uninitialised while a SkipLinearInit is active on this thread.
torch::nn::Linear make_linear(const torch::nn::LinearOptions& options);

}  // namespace vitorch::model
