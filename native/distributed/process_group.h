// A process group of c10d, PyTorch's own collective engine, made the way torch.distributed.init_process_group makes
// its default group, so that PyTorch processes and vitorch processes can be members of one job: the rendezvous
// through a TCPStore (hosted by rank 0, or by torchrun's agent when it says so), the same store prefixes
// ("default_pg", the group's name "0", the device "cpu"), and a Gloo backend registered for CPU and CUDA tensors
// alike, as PyTorch registers the "gloo" backend. Backend 'nccl' is PyTorch's "cpu:gloo,cuda:nccl": NCCL (from the
// plugin libvitorch_nccl.so, nccl/nccl_backend.h) for CUDA tensors, Gloo for CPU ones.
//
// Every call blocks until the collective is done (or times out, or a peer is lost: then it throws PeerLost); the
// binding runs them off the event loop.
#pragma once

#include <torch/types.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

namespace c10d {
class ProcessGroup;
class Store;
}  // namespace c10d

namespace vitorch::distributed {

struct ProcessGroupOptions {
  int rank = 0;
  int world_size = 1;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  std::string backend = "gloo";  // or "nccl"
  // How long a collective (and the rendezvous) may wait for the other ranks before failing.
  std::chrono::milliseconds timeout{std::chrono::minutes(10)};
  // torchrun's TORCHELASTIC_USE_AGENT_STORE: its agent hosts the store at master_addr:master_port, and every rank
  // connects as a client; TORCHELASTIC_RESTART_COUNT: a restarted attempt keys under its own prefix.
  bool agent_store = false;
  int restart_count = 0;
};

class ProcessGroup {
 public:
  // Connects to the store and to the other ranks; returns when all of them have joined.
  static std::shared_ptr<ProcessGroup> connect(const ProcessGroupOptions& options);
  ~ProcessGroup();

  int rank() const { return rank_; }
  int world_size() const { return world_size_; }
  const std::string& backend() const { return backend_; }
  std::chrono::milliseconds timeout() const { return timeout_; }

  // The c10d group, for DDP's Reducer and the broadcasts of data_parallel.h. Throws once destroyed.
  const c10::intrusive_ptr<c10d::ProcessGroup>& group() const;

  // Sums `values` (float64) over the ranks: every rank receives the totals.
  std::vector<double> all_reduce_sum(const std::vector<double>& values);
  // Reduces `tensors` in place over the ranks ("sum", "max" or "min"), in one coalesced collective: each rank ends
  // with the same values. Dense tensors of one device and dtype.
  void all_reduce(std::vector<torch::Tensor> tensors, const std::string& op);
  // Returns when every rank has called it.
  void barrier();
  // Lets go of the backend and the store; later calls throw. Safe to call twice.
  void destroy();

  // Runs a collective's `work`, turning c10d's and Gloo's errors into vitorch's: a lost peer, a timeout.
  template <typename Work>
  auto guarded(const char* what, Work&& work) -> decltype(work());

 private:
  ProcessGroup() = default;
  [[noreturn]] void rethrow(const char* what, const std::exception& error) const;

  int rank_ = 0;
  int world_size_ = 1;
  std::string backend_;
  std::chrono::milliseconds timeout_{0};
  c10::intrusive_ptr<c10d::Store> store_;
  c10::intrusive_ptr<c10d::ProcessGroup> group_;
};

template <typename Work>
auto ProcessGroup::guarded(const char* what, Work&& work) -> decltype(work()) {
  try {
    return work();
  } catch (const std::exception& error) {
    rethrow(what, error);
  }
}

}  // namespace vitorch::distributed
