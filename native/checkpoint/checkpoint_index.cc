// CheckpointIndex (see checkpoint_index.h): what is common to every format once its reader has made the layout.
#include "checkpoint/checkpoint_index.h"

#include <torch/csrc/autograd/grad_mode.h>

#include <algorithm>
#include <new>
#include <numeric>

#include "checkpoint/storage_checks.h"
#include "common/errors.h"

namespace vitorch::checkpoint {

namespace {

// Storage indices in the order their bytes lie in the file, so that reading them is one forward pass.
std::vector<size_t> file_order(const std::vector<StorageSource>& storages) {
  std::vector<size_t> order(storages.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return storages[a].position < storages[b].position; });
  return order;
}

// Whether the storage's bytes can be read straight into `destination`: the entry is the whole storage, laid out
// contiguously, and the destination is plain contiguous CPU memory of the same dtype and shape. Bool storages are
// read through the buffer, so that a bad byte is found before it reaches the destination.
bool reads_directly(const StorageSource& storage, const torch::Tensor& entry, const torch::Tensor& destination) {
  return storage.dtype != c10::ScalarType::Bool && entry.storage_offset() == 0 &&
         entry.numel() == storage.element_count && entry.is_contiguous() && destination.device().is_cpu() &&
         destination.layout() == c10::kStrided && destination.scalar_type() == storage.dtype &&
         destination.sizes() == entry.sizes() && destination.is_contiguous() && !destination.is_conj() &&
         !destination.is_neg() && static_cast<uint64_t>(destination.nbytes()) == storage.byte_count;
}

}  // namespace

void rethrow_as_checkpoint_error(const std::string& path) {
  try {
    throw;
  } catch (const CheckpointError&) {
    throw;
  } catch (const c10::Error& error) {
    throw CheckpointError(path + ": cannot load checkpoint: " + error.what_without_backtrace());
  } catch (const std::bad_alloc&) {
    throw CheckpointError(path + ": out of memory while loading the checkpoint");
  } catch (const std::exception& error) {
    throw CheckpointError(path + ": cannot load checkpoint: " + error.what());
  }
}

CheckpointIndex::CheckpointIndex(std::unique_ptr<RandomAccessFile> file, CheckpointLayout layout, ReadOptions options)
    : file_(std::move(file)), layout_(std::move(layout)), options_(options) {}

CheckpointIndex::CheckpointIndex(CheckpointIndex&&) noexcept = default;
CheckpointIndex& CheckpointIndex::operator=(CheckpointIndex&&) noexcept = default;
CheckpointIndex::~CheckpointIndex() = default;

CheckpointIndex CheckpointIndex::open(const std::string& path, const ReadOptions& options) {
  return with_checkpoint_errors(path, [&] {
    auto file = std::make_unique<RandomAccessFile>(path);
    CheckpointLayout layout = index_checkpoint_file(*file, options);
    return CheckpointIndex(std::move(file), std::move(layout), options);
  });
}

const std::string& CheckpointIndex::path() const { return file_->path(); }

void CheckpointIndex::read_storage(const StorageSource& storage, void* destination) const {
  if (storage.record != nullptr) {
    layout_.archive->read(*storage.record, destination, storage.byte_count, options_.verify_checksums);
  } else {
    file_->read_exact(storage.data_offset, destination, static_cast<size_t>(storage.byte_count));
  }
}

torch::Tensor CheckpointIndex::allocate(const StorageSource& storage) const {
  const auto options = torch::TensorOptions().dtype(storage.dtype);
  try {
    return storage.owned_by_entry ? torch::empty(storage.meta.sizes(), options)
                                  : torch::empty({storage.element_count}, options);
  } catch (const c10::Error& error) {
    file_->fail("cannot allocate " + std::to_string(storage.byte_count) + " bytes for " + storage.what + ": " +
                error.what_without_backtrace());
  } catch (const std::bad_alloc&) {
    file_->fail("out of memory allocating " + std::to_string(storage.byte_count) + " bytes for " + storage.what);
  }
}

Checkpoint CheckpointIndex::materialize() const {
  return with_checkpoint_errors(path(), [&] {
    const std::vector<StorageSource>& storages = layout_.storages;
    std::vector<torch::Tensor> loaded(storages.size());
    for (const size_t index : file_order(storages)) {
      const StorageSource& storage = storages[index];
      torch::Tensor& tensor = loaded[index];
      tensor = allocate(storage);
      read_storage(storage, tensor.data_ptr());
      if (storage.dtype == c10::ScalarType::Bool) check_bool_bytes(*file_, storage.what, tensor);
    }
    Checkpoint checkpoint;
    checkpoint.format = layout_.format;
    checkpoint.notes = layout_.notes;
    checkpoint.metadata = layout_.metadata;
    checkpoint.tensors.reserve(size());
    for (size_t i = 0; i < size(); ++i) {
      const IndexedTensor& entry = layout_.tensors[i];
      const torch::Tensor& storage = loaded[entry.storage];
      checkpoint.tensors.emplace_back(
          layout_.names[i],
          storages[entry.storage].owned_by_entry
              ? storage
              : storage.as_strided(entry.meta.sizes(), entry.meta.strides(), entry.meta.storage_offset()));
    }
    return checkpoint;
  });
}

void CheckpointIndex::read_into(const std::vector<torch::Tensor>& destinations, size_t* written) const {
  if (destinations.size() != size()) {
    throw std::logic_error("CheckpointIndex::read_into: " + std::to_string(destinations.size()) + " destinations for " +
                           std::to_string(size()) + " entries");
  }
  with_checkpoint_errors(path(), [&] {
    const std::vector<StorageSource>& storages = layout_.storages;
    std::vector<std::vector<size_t>> wanted(storages.size());
    for (size_t i = 0; i < size(); ++i) {
      if (destinations[i].defined()) wanted[layout_.tensors[i].storage].push_back(i);
    }
    // Which storages go straight into their destination; the largest of the others sizes the one buffer.
    std::vector<bool> direct(storages.size(), false);
    uint64_t buffer_bytes = 0;
    for (size_t s = 0; s < storages.size(); ++s) {
      if (wanted[s].empty()) continue;
      const size_t entry = wanted[s].front();
      direct[s] =
          wanted[s].size() == 1 && reads_directly(storages[s], layout_.tensors[entry].meta, destinations[entry]);
      if (!direct[s]) buffer_bytes = std::max(buffer_bytes, storages[s].byte_count);
    }
    torch::Tensor buffer;
    if (buffer_bytes > 0) {
      try {
        buffer = torch::empty({static_cast<int64_t>(buffer_bytes)}, torch::TensorOptions().dtype(torch::kUInt8));
      } catch (const c10::Error& error) {
        file_->fail("cannot allocate a buffer of " + std::to_string(buffer_bytes) +
                    " bytes: " + error.what_without_backtrace());
      } catch (const std::bad_alloc&) {
        file_->fail("out of memory allocating a buffer of " + std::to_string(buffer_bytes) + " bytes");
      }
    }

    // Writing into parameters that require grad is only allowed outside autograd.
    torch::NoGradGuard no_grad;
    size_t touched = 0;
    auto count = [&] {
      ++touched;
      if (written != nullptr) *written = touched;
    };
    for (const size_t s : file_order(storages)) {
      if (wanted[s].empty()) continue;
      const StorageSource& storage = storages[s];
      if (direct[s]) {
        const torch::Tensor& destination = destinations[wanted[s].front()];
        count();
        read_storage(storage, destination.data_ptr());
        // An in-place write, as copy_ would be: autograd's saved-tensor checks must see it.
        if (!destination.is_inference()) destination.unsafeGetTensorImpl()->bump_version();
        continue;
      }
      const torch::Tensor data = storage.element_count == 0
                                     ? torch::empty({0}, torch::TensorOptions().dtype(storage.dtype))
                                     : torch::from_blob(buffer.data_ptr(), {storage.element_count},
                                                        torch::TensorOptions().dtype(storage.dtype));
      read_storage(storage, data.data_ptr());
      if (storage.dtype == c10::ScalarType::Bool) check_bool_bytes(*file_, storage.what, data);
      for (const size_t entry : wanted[s]) {
        const torch::Tensor& meta = layout_.tensors[entry].meta;
        count();
        destinations[entry].copy_(data.as_strided(meta.sizes(), meta.strides(), meta.storage_offset()));
      }
    }
  });
}

}  // namespace vitorch::checkpoint
