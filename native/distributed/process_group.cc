#include "distributed/process_group.h"

#include <dlfcn.h>
#include <torch/cuda.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <sstream>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroup.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include "common/describe.h"
#include "common/errors.h"
#include "nccl/nccl_backend.h"

namespace vitorch::distributed {
namespace {

c10::intrusive_ptr<c10d::Store> connect_store(const ProcessGroupOptions& options) {
  c10d::TCPStoreOptions store_options;
  store_options.port = static_cast<std::uint16_t>(options.master_port);
  store_options.timeout = options.timeout;
  c10::intrusive_ptr<c10d::Store> store;
  if (options.agent_store) {
    // torchrun's agent hosts the store. The first attempt joins it as PyTorch 2.15's env:// does, without a prefix,
    // so that PyTorch ranks and vitorch ranks meet there. The agent keeps that store across restarts, with the keys
    // the failed attempt's ranks left (Gloo's addresses among them: a restarted rank would read a dead peer's), so a
    // restarted attempt keys under "/worker/attempt_<n>", as torch 2.5.1's env:// did for every attempt.
    store_options.isServer = false;
    store_options.numWorkers = options.world_size;
    store = c10::make_intrusive<c10d::TCPStore>(options.master_addr, store_options);
    if (options.restart_count > 0) {
      store = c10::make_intrusive<c10d::PrefixStore>("/worker/attempt_" + std::to_string(options.restart_count), store);
    }
  } else {
    store_options.isServer = options.rank == 0;
    store_options.numWorkers = options.world_size;
    store_options.multiTenant = true;
    store = c10::make_intrusive<c10d::TCPStore>(options.master_addr, store_options);
  }
  return store;
}

// What torch.distributed's pybind constructor of ProcessGroupGloo does: one device per interface named in
// GLOO_SOCKET_IFNAME, otherwise the address this machine's hostname resolves to (loopback when it resolves to none).
c10::intrusive_ptr<c10d::ProcessGroupGloo::Options> gloo_options(std::chrono::milliseconds timeout) {
  auto options = c10d::ProcessGroupGloo::Options::create(timeout);
  const bool lazy = c10d::getDefaultGlooLazyInit();
  const char* interfaces = std::getenv("GLOO_SOCKET_IFNAME");
  if (interfaces && std::strlen(interfaces) > 1) {
    std::stringstream list(interfaces);
    std::string name;
    while (std::getline(list, name, ',')) {
      if (!name.empty()) options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(name, lazy));
    }
  } else {
    options->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice(lazy));
  }
  options->threads = static_cast<int>(options->devices.size() * 2);
  return options;
}

// libvitorch_nccl.so beside the binary this code is linked into (the addon), loaded once.
VitorchMakeNcclBackend nccl_plugin() {
  static VitorchMakeNcclBackend factory = nullptr;
  static std::string failure;
  static std::once_flag once;
  std::call_once(once, [] {
    Dl_info self{};
    if (dladdr(reinterpret_cast<const void*>(&nccl_plugin), &self) == 0 || self.dli_fname == nullptr) {
      failure = "could not locate the vitorch addon's own file";
      return;
    }
    const auto plugin = std::filesystem::path(self.dli_fname).parent_path() / "libvitorch_nccl.so";
    if (!std::filesystem::exists(plugin)) {
      failure = "this build of vitorch has no NCCL plugin (" + plugin.string() +
                "): it is built where the CUDA and NCCL headers are found (the PyPI packages nvidia-cuda-crt and "
                "nvidia-nccl beside a CUDA torch)";
      return;
    }
    void* handle = dlopen(plugin.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
      failure = std::string("could not load ") + plugin.string() + ": " + dlerror();
      return;
    }
    factory = reinterpret_cast<VitorchMakeNcclBackend>(dlsym(handle, VITORCH_MAKE_NCCL_BACKEND_SYMBOL));
    if (!factory) failure = plugin.string() + " has no " + VITORCH_MAKE_NCCL_BACKEND_SYMBOL;
  });
  if (!factory) throw InvalidValue("expected a vitorch with NCCL for backend 'nccl': " + failure);
  return factory;
}

bool mentions(const std::string& text, std::initializer_list<const char*> words) {
  for (const char* word : words) {
    if (text.find(word) != std::string::npos) return true;
  }
  return false;
}

}  // namespace

std::shared_ptr<ProcessGroup> ProcessGroup::connect(const ProcessGroupOptions& options) {
  if (options.world_size < 1) {
    throw InvalidValue("expected worldSize >= 1, received " + std::to_string(options.world_size));
  }
  if (options.rank < 0 || options.rank >= options.world_size) {
    throw InvalidValue("expected a rank in [0, " + std::to_string(options.world_size - 1) + "], received " +
                       std::to_string(options.rank));
  }
  if (options.master_port < 0 || options.master_port > 65535) {
    throw InvalidValue("expected masterPort in [0, 65535], received " + std::to_string(options.master_port));
  }
  if (options.backend != "gloo" && options.backend != "nccl") {
    throw InvalidValue("expected backend 'gloo' or 'nccl', received '" + options.backend + "'");
  }
  const bool nccl = options.backend == "nccl";
  if (nccl && !torch::cuda::is_available()) {
    throw InvalidValue("expected a CUDA device for backend 'nccl', received none: use 'gloo' on the CPU");
  }
  auto result = std::shared_ptr<ProcessGroup>(new ProcessGroup());
  result->rank_ = options.rank;
  result->world_size_ = options.world_size;
  result->backend_ = options.backend;
  result->timeout_ = options.timeout;
  try {
    // torch.distributed.init_process_group's prefixes: "default_pg" over the rendezvous store, the default group's
    // name "0", then the device the backend serves.
    auto store = c10::make_intrusive<c10d::PrefixStore>("default_pg", connect_store(options));
    auto group_store = c10::make_intrusive<c10d::PrefixStore>("0/", store);
    auto cpu_store = c10::make_intrusive<c10d::PrefixStore>("cpu/", group_store);
    auto gloo = c10::make_intrusive<c10d::ProcessGroupGloo>(cpu_store, options.rank, options.world_size,
                                                            gloo_options(options.timeout));
    auto group = c10::make_intrusive<c10d::ProcessGroup>(group_store, options.rank, options.world_size);
    group->setBackend(c10::DeviceType::CPU, c10d::ProcessGroup::BackendType::GLOO, gloo);
    if (nccl) {
      // PyTorch's "cpu:gloo,cuda:nccl": CUDA tensors (the gradients) through NCCL, CPU tensors (the step's figures)
      // through Gloo.
      const c10::intrusive_ptr<c10d::Store> cuda_store = c10::make_intrusive<c10d::PrefixStore>("cuda/", group_store);
      char error[1024] = "";
      auto* raw = nccl_plugin()(&cuda_store, options.rank, options.world_size,
                                static_cast<int64_t>(options.timeout.count()), error, sizeof(error));
      if (!raw) throw std::runtime_error(std::string("could not create the NCCL backend: ") + error);
      auto backend = c10::intrusive_ptr<c10d::Backend>::reclaim(raw);
      group->setDefaultBackend(c10d::ProcessGroup::BackendType::NCCL);
      group->setBackend(c10::DeviceType::CUDA, c10d::ProcessGroup::BackendType::NCCL, backend);
    } else {
      group->setDefaultBackend(c10d::ProcessGroup::BackendType::GLOO);
      group->setBackend(c10::DeviceType::CUDA, c10d::ProcessGroup::BackendType::GLOO, gloo);
    }
    result->store_ = store;
    result->group_ = group;
  } catch (const std::exception& error) {
    result->rethrow(("rendezvous at " + options.master_addr + ":" + std::to_string(options.master_port)).c_str(),
                    error);
  }
  return result;
}

ProcessGroup::~ProcessGroup() = default;

const c10::intrusive_ptr<c10d::ProcessGroup>& ProcessGroup::group() const {
  if (!group_) throw DistributedError("this process group has been destroyed");
  return group_;
}

std::vector<double> ProcessGroup::all_reduce_sum(const std::vector<double>& values) {
  auto tensor = torch::tensor(values, torch::kFloat64);
  std::vector<at::Tensor> tensors{tensor};
  guarded("all-reduce", [&] { group()->allreduce(tensors)->wait(); });
  const auto* data = tensor.data_ptr<double>();
  return std::vector<double>(data, data + tensor.numel());
}

void ProcessGroup::all_reduce(std::vector<torch::Tensor> tensors, const std::string& op) {
  c10d::AllreduceCoalescedOptions options;
  if (op == "sum") options.reduceOp = c10d::ReduceOp::SUM;
  else if (op == "max") options.reduceOp = c10d::ReduceOp::MAX;
  else if (op == "min") options.reduceOp = c10d::ReduceOp::MIN;
  else throw InvalidValue("expected 'sum', 'max' or 'min' for the reduction, received '" + op + "'");
  if (tensors.empty()) return;
  for (const auto& tensor : tensors) {
    if (!tensor.is_contiguous() || tensor.is_sparse()) {
      throw InvalidValue("expected dense contiguous tensors to all-reduce");
    }
    if (tensor.device() != tensors[0].device() || tensor.scalar_type() != tensors[0].scalar_type()) {
      throw InvalidValue("expected tensors of one device and dtype to all-reduce, received " +
                         std::string(dtype_name(tensors[0].scalar_type())) + " on " + tensors[0].device().str() +
                         " and " + dtype_name(tensor.scalar_type()) + " on " + tensor.device().str());
    }
  }
  guarded("all-reduce", [&] { group()->allreduce_coalesced(tensors, options)->wait(); });
}

void ProcessGroup::barrier() {
  guarded("barrier", [&] { group()->barrier()->wait(); });
}

void ProcessGroup::destroy() {
  group_.reset();
  store_.reset();
}

void ProcessGroup::rethrow(const char* what, const std::exception& error) const {
  std::string message = error.what();
  if (const auto* c10_error = dynamic_cast<const c10::Error*>(&error)) message = c10_error->what_without_backtrace();
  if (dynamic_cast<const InvalidValue*>(&error) || dynamic_cast<const DistributedError*>(&error)) throw;
  std::string lower = message;
  for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  std::string prefix = "rank " + std::to_string(rank_) + " of " + std::to_string(world_size_) + ": ";
  // A closed connection is a lost peer for certain; then a timeout (whose messages may name a socket, as c10d's
  // "The client socket has timed out" of a rendezvous nobody hosts does); then what else points at a peer.
  const auto lost = [&] {
    return DistributedError(prefix + "a peer was lost during the " + what + " (" + message + ")");
  };
  if (mentions(lower, {"connection closed", "connection reset", "broken pipe", "epipe", "econnreset"})) throw lost();
  if (mentions(lower, {"timed out", "timeout"})) {
    throw DistributedError(prefix + "the " + std::string(what) + " timed out after " +
                           std::to_string(timeout_.count()) + " ms waiting for the other ranks (" + message + ")");
  }
  if (mentions(lower, {"peer", "read error", "write error", "connection refused", "socket"})) throw lost();
  throw DistributedError(prefix + "the " + std::string(what) + " failed: " + message);
}

}  // namespace vitorch::distributed
