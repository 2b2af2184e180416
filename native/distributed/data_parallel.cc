#include "distributed/data_parallel.h"

#include <torch/version.h>

#include <algorithm>
#include <limits>
#include <torch/csrc/distributed/c10d/ProcessGroup.hpp>
#include <torch/csrc/distributed/c10d/comm.hpp>
#include <torch/csrc/distributed/c10d/reducer.hpp>
#include <unordered_map>

#include "common/errors.h"

namespace vitorch::distributed {
namespace {

std::vector<torch::Tensor> trainable_of(const NamedTensors& parameters) {
  std::vector<torch::Tensor> result;
  for (const auto& [name, tensor] : parameters) {
    if (tensor.requires_grad()) result.push_back(tensor);
  }
  return result;
}

}  // namespace

DataParallel::DataParallel(std::shared_ptr<ProcessGroup> group, const NamedTensors& parameters)
    : group_(std::move(group)), trainable_(trainable_of(parameters)) {
  if (trainable_.empty()) throw InvalidValue("expected a model with trainable parameters, received none");
  const auto& pg = group_->group();
  std::unordered_map<size_t, std::string> names;
  std::vector<torch::Tensor> all;
  for (const auto& [name, tensor] : parameters) {
    if (tensor.requires_grad()) names.emplace(names.size(), name);
    all.push_back(tensor.detach());
  }
  group_->guarded("check of the parameters' shapes across ranks",
                  [&] { c10d::verify_params_across_processes(pg, trainable_, std::nullopt); });
  group_->guarded("broadcast of rank 0's parameters",
                  [&] { c10d::broadcast_coalesced(pg, all, kBroadcastBucketBytes, 0); });
  // DDP without find_unused_parameters starts with all parameters in one bucket (their real order is unknown until
  // the first backward has run), listed in reverse as DDP lists its buckets.
  const std::vector<bool> sparse(trainable_.size(), false);
  auto [buckets, limits] =
      c10d::compute_bucket_assignment_by_size(trainable_, {std::numeric_limits<size_t>::max()}, sparse);
  std::reverse(buckets.begin(), buckets.end());
// bucket_bytes_cap_list joined the constructor in torch 2.11.
#if TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR < 11
  reducer_ = std::make_shared<c10d::Reducer>(trainable_, buckets, pg, sparse, kBucketBytesCap,
                                             /*find_unused_parameters=*/false, /*gradient_as_bucket_view=*/false, names,
                                             kFirstBucketBytesCap, /*skip_all_reduce_unused_params=*/false,
                                             /*use_python_reducer=*/false);
#else
  reducer_ =
      std::make_shared<c10d::Reducer>(trainable_, buckets, pg, sparse, kBucketBytesCap,
                                      /*find_unused_parameters=*/false, /*gradient_as_bucket_view=*/false, names,
                                      kFirstBucketBytesCap, /*skip_all_reduce_unused_params=*/false,
                                      /*use_python_reducer=*/false, /*bucket_bytes_cap_list=*/std::vector<int64_t>{});
#endif
}

DataParallel::~DataParallel() = default;

int64_t DataParallel::bucket_host_bytes() const {
  int64_t bytes = 0;
  for (const auto& tensor : trainable_) {
    if (tensor.device().is_cpu()) bytes += static_cast<int64_t>(tensor.nbytes());
  }
  return bytes;
}

bool DataParallel::serves(const NamedTensors& parameters) const {
  size_t index = 0;
  for (const auto& [name, tensor] : parameters) {
    if (!tensor.requires_grad()) continue;
    if (index >= trainable_.size() || !trainable_[index].is_same(tensor)) return false;
    ++index;
  }
  return index == trainable_.size();
}

void DataParallel::before_forward(bool synchronize) {
  if (synchronize) reducer_->prepare_for_forward();
  group_->guarded("rebuild of the gradient buckets", [&] { reducer_->rebuild_buckets(); });
}

void DataParallel::after_forward(bool synchronize) {
  if (synchronize) reducer_->prepare_for_backward({});
}

}  // namespace vitorch::distributed
