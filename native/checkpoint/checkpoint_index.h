// Reading a checkpoint in two phases, so that loading it into a model never holds a second copy of the weights.
//
//  1. CheckpointIndex::open parses everything but the tensors' data: the zip directory and data.pkl, the legacy
//     format's pickles and storage headers, or the safetensors JSON header. Unwrapping (ReadOptions::unwrap) is
//     done here, with the same notes as load_checkpoint_file. Every entry is described by a tensor on the meta
//     device (dtype, sizes, strides and offset, no data) and the storage it views. Every check that needs no tensor
//     data is done here, so a file that is malformed anywhere fails before anything is read into anything.
//  2. read_into copies chosen entries into tensors the caller owns (a model's parameters), one storage at a time in
//     file order, so the extra memory is at most one storage; materialize makes ordinary CPU tensors of every
//     entry (what load_checkpoint_file returns).
//
// The readers of each format (torch_zip_reader.h, torch_legacy_reader.h, safetensors_reader.h) build a
// CheckpointLayout; this file holds what is common to all of them.
#pragma once

#include <torch/types.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "checkpoint/checkpoint_reader.h"
#include "checkpoint/random_access_file.h"
#include "checkpoint/zip_archive.h"

namespace vitorch::checkpoint {

// One storage: a run of bytes in the file that holds a whole storage, read in one go.
struct StorageSource {
  std::string what;  // for messages: "record 'archive/data/0'", "storage '3'", "tensor 'x'"
  c10::ScalarType dtype = c10::ScalarType::Undefined;
  int64_t element_count = 0;
  uint64_t byte_count = 0;
  uint64_t position = 0;  // where in the file it starts; storages are read in this order
  // Zip: the record, read through the archive (its CRC-32 checked when ReadOptions::verify_checksums). Otherwise
  // the bytes are [data_offset, data_offset + byte_count) of the file.
  const ZipArchive::Record* record = nullptr;
  uint64_t data_offset = 0;
  // The storage as a contiguous 1-D tensor on the meta device; the entries' meta tensors are views of it.
  torch::Tensor meta;
  // safetensors: the storage belongs to one tensor of these sizes and is materialised as that tensor itself
  // rather than as a 1-D storage that the tensor views.
  bool owned_by_entry = false;
};

struct IndexedTensor {
  torch::Tensor meta;  // on the meta device; storage_offset() counts elements from the start of its storage
  size_t storage = 0;  // index into CheckpointLayout::storages
};

// What a format's reader finds in a file without reading tensor data.
struct CheckpointLayout {
  std::string format;
  std::vector<std::string> names;       // the state dict's keys, in file order (see NamedTensors)
  std::vector<IndexedTensor> tensors;   // parallel to names
  std::vector<StorageSource> storages;  // only the storages some entry views
  std::vector<std::string> notes;
  std::vector<std::pair<std::string, std::string>> metadata;
  std::unique_ptr<ZipArchive> archive;  // zip only; reads StorageSource::record
};

class CheckpointIndex {
 public:
  // Opens `path`, tells the format from its first bytes and indexes it. Throws vitorch::CheckpointError naming the
  // file for anything load_checkpoint_file would refuse, except problems that only the data shows (a CRC
  // mismatch, a bool byte other than 0 or 1, a file that changes while it is read): those come from the reads.
  static CheckpointIndex open(const std::string& path, const ReadOptions& options = {});

  CheckpointIndex(CheckpointIndex&&) noexcept;
  CheckpointIndex& operator=(CheckpointIndex&&) noexcept;
  ~CheckpointIndex();

  const std::string& path() const;
  const std::string& format() const { return layout_.format; }
  const std::vector<std::string>& notes() const { return layout_.notes; }
  const std::vector<std::pair<std::string, std::string>>& metadata() const { return layout_.metadata; }

  size_t size() const { return layout_.names.size(); }
  const std::string& name(size_t entry) const { return layout_.names[entry]; }
  // dtype, sizes and strides of an entry, on the meta device.
  const torch::Tensor& meta(size_t entry) const { return layout_.tensors[entry].meta; }

  // For every entry i whose destinations[i] is defined, destinations[i].copy_(entry i): converted to the
  // destination's dtype and moved to its device by copy_, which needs the same number of elements in a
  // broadcastable shape (callers pass tensors of the entry's own shape). `destinations` has size() elements
  // (undefined ones are skipped; a storage no wanted entry views is never read). Storages are read once each, in
  // file order; an entry that covers its whole storage contiguously and goes to a contiguous CPU tensor of its
  // dtype and shape is read straight into that tensor, any other through a buffer of at most the largest such
  // storage. Writes to destinations bypass autograd (call it under torch::NoGradGuard when they require grad).
  // `written`, when given, counts the destinations filled so far, so that a caller can tell after a failure
  // (a CRC mismatch found at the end of a storage, ...) whether anything was changed. Throws CheckpointError.
  void read_into(const std::vector<torch::Tensor>& destinations, size_t* written = nullptr) const;

  // Every entry as a CPU tensor, as load_checkpoint_file returns them: each storage is allocated and read once, and
  // entries on one storage are views sharing it, with the file's sizes, strides and offset. The index itself is
  // unchanged and can be read again.
  Checkpoint materialize() const;

 private:
  CheckpointIndex(std::unique_ptr<RandomAccessFile> file, CheckpointLayout layout, ReadOptions options);

  // Reads one storage's bytes into `destination` (byte_count bytes).
  void read_storage(const StorageSource& storage, void* destination) const;
  // A new CPU tensor for a storage: 1-D of element_count, or the owning entry's shape.
  torch::Tensor allocate(const StorageSource& storage) const;

  std::unique_ptr<RandomAccessFile> file_;  // declared first: the archive in layout_ refers to it
  CheckpointLayout layout_;
  ReadOptions options_;
};

// Runs `body`, turning anything but a CheckpointError (a c10::Error, std::bad_alloc, another std::exception) into
// a CheckpointError that names `path`, so that a bad file never surfaces as anything else.
template <typename Body>
auto with_checkpoint_errors(const std::string& path, Body&& body) -> decltype(body());

// Tells the format of an open file from its first bytes and runs that format's reader; the 'module.' prefix is
// removed afterwards when options.unwrap. (In checkpoint_reader.cc, next to the format detection.)
CheckpointLayout index_checkpoint_file(const RandomAccessFile& file, const ReadOptions& options);

// ---- implementation ---------------------------------------------------------------------------------------------

[[noreturn]] void rethrow_as_checkpoint_error(const std::string& path);

template <typename Body>
auto with_checkpoint_errors(const std::string& path, Body&& body) -> decltype(body()) {
  try {
    return body();
  } catch (...) {
    rethrow_as_checkpoint_error(path);
  }
}

}  // namespace vitorch::checkpoint
