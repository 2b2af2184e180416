// Data-parallel training of one model over a process group, on the engine of PyTorch's DistributedDataParallel
// (DDP) and making the collectives it makes, in its order, so that a PyTorch DDP process and a vitorch process can
// train one model together:
//   construction: the shapes of the trainable parameters verified across ranks (verify_params_across_processes),
//     rank 0's parameters broadcast to all (broadcast_coalesced, DDP's 250 MiB buckets), and c10d's Reducer over the
//     trainable parameters with DDP's defaults (one bucket at first, 25 MiB buckets and a 1 MiB first bucket when
//     they are rebuilt in gradient order after the first iteration);
//   each step: before the forward, rebuild_buckets() and, when this step synchronises, prepare_for_forward(); after
//     it, prepare_for_backward(); backward then all-reduces the gradients bucket by bucket while it runs, and returns
//     them averaged over the ranks.
// A step that does not synchronise (gradient accumulation: DDP's no_sync()) only accumulates local gradients; the
// next synchronising step's backward reduces everything accumulated.
//
// The trainable set is fixed per Reducer, as in DDP: when it changes (a frozen backbone unfrozen), the session
// builds a new DataParallel, which repeats the construction's collectives. A PyTorch peer does the same by wrapping
// the model in a new DistributedDataParallel at that point.
#pragma once

#include <torch/types.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "distributed/process_group.h"

namespace c10d {
class Reducer;
}

namespace vitorch::distributed {

using NamedTensors = std::vector<std::pair<std::string, torch::Tensor>>;

// DDP's defaults (torch/nn/parallel/distributed.py and c10d/reducer.hpp).
constexpr int64_t kBroadcastBucketBytes = 250LL * 1024 * 1024;
constexpr int64_t kBucketBytesCap = 25LL * 1024 * 1024;
constexpr int64_t kFirstBucketBytesCap = 1024 * 1024;

class DataParallel {
 public:
  // `parameters`: every parameter of the model, in the model's order (named_parameters()); those that require a
  // gradient are the trainable set. Runs the construction's collectives.
  DataParallel(std::shared_ptr<ProcessGroup> group, const NamedTensors& parameters);
  ~DataParallel();

  // Whether `parameters`' trainable set is the one this instance reduces.
  bool serves(const NamedTensors& parameters) const;

  void before_forward(bool synchronize);
  void after_forward(bool synchronize);

  ProcessGroup& group() { return *group_; }
  // Host memory of the gradient buckets (a flat copy of the trainable parameters' gradients), 0 on a GPU.
  int64_t bucket_host_bytes() const;
  size_t trainable_count() const { return trainable_.size(); }

 private:
  std::shared_ptr<ProcessGroup> group_;
  std::vector<torch::Tensor> trainable_;
  std::shared_ptr<c10d::Reducer> reducer_;
};

}  // namespace vitorch::distributed
