// One model and its optimizer, trained by whole native steps: forward, loss, backward and the optimizer's update in
// one call, so that a step runs off the event loop in one go and JavaScript only hands over batches and reads
// numbers.
//
// The caller holds the model's mutex around every call (binding/trainer_wrap.cc does).
//
// Data-parallel training will average gradients across processes between backward and the update: that is the
// gradient hook, called with every parameter that has a gradient, before clipping. Nothing else in a step needs to
// know how many processes there are.
#pragma once

#include <torch/types.h>

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "model/vision_transformer.h"
#include "train/optimizer_factory.h"

namespace vitorch::train {

struct StepOptions {
  double label_smoothing = 0.0;
  // Clip the global gradient norm to this before the update; 0: no clipping.
  double max_grad_norm = 0.0;
  // The loss is divided by this, so that gradients accumulated over that many calls average them.
  int64_t accumulation_steps = 1;
  // false: only accumulate this batch's gradients (gradient accumulation), no update.
  bool apply_update = true;
  // Lower precision for the forward pass (autocast); unset: the model's own dtype.
  std::optional<c10::ScalarType> autocast;
};

struct StepResult {
  double loss = 0.0;          // mean loss of this batch (before division by accumulation_steps)
  int64_t correct = 0;        // top-1 hits in this batch
  int64_t count = 0;
  double grad_norm = -1.0;    // the global norm before clipping; -1 when not computed
};

struct EvaluationResult {
  double loss_sum = 0.0;      // summed plain cross-entropy (no label smoothing), as the seed's validation loss
  int64_t top1 = 0;
  int64_t topk = 0;           // hits within the top k (k = min(topk, classes))
  int64_t count = 0;
  torch::Tensor predictions;  // int32 [N], the top-1 class of each image
};

using GradientHook = std::function<void(std::vector<torch::Tensor>& gradients_of)>;

class TrainingSession {
 public:
  TrainingSession(model::VisionTransformer model, const OptimizerSpec& spec);

  StepResult step(const torch::Tensor& images, const torch::Tensor& labels, const StepOptions& options);
  EvaluationResult evaluate(const torch::Tensor& images, const torch::Tensor& labels, int64_t topk,
                            std::optional<c10::ScalarType> autocast);

  // For loops written in JS (loss.backward() there): hook, clip, update. Returns the norm as step() does.
  double apply_update(double max_grad_norm);
  void zero_grad();

  void set_learning_rate(double lr) { train::set_learning_rate(built_, lr); }
  std::vector<double> learning_rates() const;
  const BuiltOptimizer& optimizer() const { return built_; }

  // The whole training state in one file, written atomically: weights, optimizer state, the CPU random generator's
  // state and an opaque JSON string of the caller's (epoch, schedule position, history). load() checks that the
  // file was written for this model and optimizer before changing anything, then returns the JSON.
  void save(const std::string& path, const std::string& caller_state) const;
  std::string load(const std::string& path);

  model::VisionTransformer model;
  GradientHook gradient_hook;

 private:
  std::vector<torch::Tensor> parameters_with_gradients() const;
  BuiltOptimizer built_;
};

}  // namespace vitorch::train
