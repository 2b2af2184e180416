// A training session: one model, the optimizer built for it (its rule, its state, its parameter groups) and whole
// native steps over them: forward, loss, backward and the update in one call, so that a step runs off the event loop
// in one go and JavaScript only hands over batches and reads numbers. It is the native half of lib/train/trainer.ts's
// Trainer (binding/training_session_wrap.h is the handle between them); the JS Optimizer is only its configuration
// (OptimizerSpec).
//
// The caller holds the model's mutex around every call (binding/training_session_workers.cc does).
//
// Data-parallel training (distributed/data_parallel.h): a session given a process group averages the gradients
// across its ranks during step()'s backward, the way DistributedDataParallel does, before the norm is clipped and the
// optimizer steps; the rest of a step does not know how many processes there are. Every step then sums its loss,
// hits and count over the ranks (one small all-reduce), together with whether any rank was asked to stop, so that
// every rank reports the same figures and all of them stop after the same step.
#pragma once

#include <torch/types.h>

#include <atomic>
#include <optional>
#include <string>
#include <vector>

#include "distributed/data_parallel.h"
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
  // Data-parallel only: this rank was asked to stop (a signal); every rank learns it from this step's result.
  bool stop_requested = false;
};

struct StepResult {
  double loss = 0.0;    // mean loss of this batch (before division by accumulation_steps)
  int64_t correct = 0;  // top-1 hits in this batch
  int64_t count = 0;
  double grad_norm = -1.0;  // the global norm before clipping; -1 when not computed
  // Data-parallel: the batch's figures over every rank (the loss weighted by each rank's count), and whether any
  // rank asked to stop. Without a process group they are this process's own.
  double global_loss = 0.0;
  int64_t global_correct = 0;
  int64_t global_count = 0;
  bool stop = false;
};

struct EvaluationResult {
  double loss_sum = 0.0;  // summed plain cross-entropy (no label smoothing), as the seed's validation loss
  int64_t top1 = 0;
  int64_t topk = 0;  // hits within the top k (k = min(topk, classes))
  int64_t count = 0;
  torch::Tensor predictions;  // int32 [N], the top-1 class of each image
};

class TrainingSession {
 public:
  TrainingSession(model::VisionTransformer model, const OptimizerSpec& spec);

  // Forward, loss, backward and (unless options.apply_update is false) apply_update(). The model must be in training
  // mode: a step never changes the mode behind its owner's back (the Trainer sets it, lib/train/trainer.ts).
  StepResult step(const torch::Tensor& images, const torch::Tensor& labels, const StepOptions& options);
  // One batch in evaluation mode without autograd; the model's mode is restored afterwards.
  EvaluationResult evaluate(const torch::Tensor& images, const torch::Tensor& labels, int64_t topk,
                            std::optional<c10::ScalarType> autocast);

  // The update from the gradients backward accumulated: clip to max_grad_norm (0: no clipping), step the optimizer,
  // reset the gradients. Returns the norm before clipping, or -1 when not clipping. For a backward run from JS;
  // refused in a data-parallel session, whose gradients only step() reduces.
  double apply_update(double max_grad_norm);

  // Trains data-parallel over `group` from the next step on (nullptr: alone again).
  void set_process_group(std::shared_ptr<distributed::ProcessGroup> group);
  const std::shared_ptr<distributed::ProcessGroup>& process_group() const { return group_; }
  void zero_grad();

  void set_learning_rate(double lr) { train::set_learning_rate(built_, lr); }
  std::vector<double> learning_rates() const;
  const BuiltOptimizer& optimizer() const { return built_; }
  OptimizerKind kind() const { return built_.kind; }

  // Host memory held by the optimizer's state (and, data-parallel, by the Reducer's gradient buckets: one more copy
  // of the trainable weights' size), as of the last update or load. Counted on the thread that runs them
  // (state is created by the first update of each parameter, so the count changes rarely), read from any thread.
  int64_t optimizer_state_bytes() const { return state_bytes_.load(std::memory_order_relaxed); }

  // The whole training state in one file, written atomically: weights, optimizer state, the CPU random generator's
  // state and an opaque JSON string of the caller's (epoch, schedule position, history). load() checks that the
  // file was written for this model and optimizer before changing anything, then returns the JSON.
  void save(const std::string& path, const std::string& caller_state) const;
  std::string load(const std::string& path);

 private:
  std::vector<torch::Tensor> parameters_with_gradients() const;
  double update(double max_grad_norm);
  // The DataParallel for the model's current trainable set, built (with its collectives) when that set changed.
  distributed::DataParallel& data_parallel();
  // Recounts optimizer_state_bytes() when the optimizer's state may have changed size.
  void count_state_bytes(bool force);

  model::VisionTransformer model_;
  BuiltOptimizer built_;
  std::shared_ptr<distributed::ProcessGroup> group_;
  std::unique_ptr<distributed::DataParallel> data_parallel_;
  size_t counted_states_ = 0;
  std::atomic<int64_t> state_bytes_{0};
};

}  // namespace vitorch::train
