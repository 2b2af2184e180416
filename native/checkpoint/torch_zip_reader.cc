// The zip-format torch.save reader (see torch_zip_reader.h).
#include "checkpoint/torch_zip_reader.h"

#include <cstring>
#include <map>
#include <new>

#include "checkpoint/message_text.h"
#include "checkpoint/pickle_input.h"
#include "checkpoint/skipped_globals.h"
#include "checkpoint/state_dict_selection.h"
#include "checkpoint/storage_checks.h"
#include "checkpoint/tensor_from_storage.h"
#include "checkpoint/unpickler.h"
#include "checkpoint/zip_archive.h"
#include "common/describe.h"
#include "common/errors.h"

namespace vitorch::checkpoint {

namespace {

const std::string kPickleRecordSuffix = "/data.pkl";

bool ends_with(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() && text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// The folder all records live in: the one whose <folder>/data.pkl exists.
std::string find_prefix(const ZipArchive& archive) {
  const RandomAccessFile& file = archive.file();
  std::vector<std::string> candidates;
  for (const ZipArchive::Record& record : archive.records()) {
    if (ends_with(record.name, kPickleRecordSuffix)) {
      const std::string folder = record.name.substr(0, record.name.size() - kPickleRecordSuffix.size());
      if (!folder.empty() && folder.find('/') == std::string::npos) candidates.push_back(folder);
    }
  }
  if (candidates.empty()) {
    file.fail(
        "not a PyTorch checkpoint (it is a zip archive, but has no '<folder>/data.pkl' record as torch.save "
        "writes)");
  }
  if (candidates.size() > 1) {
    file.fail("not a torch.save checkpoint (the zip archive holds " + std::to_string(candidates.size()) +
              " data.pkl records, e.g. '" + printable(candidates[0]) + kPickleRecordSuffix + "' and '" +
              printable(candidates[1]) + kPickleRecordSuffix + "'; torch.save writes one)");
  }
  const std::string& prefix = candidates[0];
  // torch.jit.save writes the same layout plus code and constants; its data.pkl holds a scripted module.
  if (archive.find(prefix + "/constants.pkl") != nullptr) {
    file.fail(
        "is a TorchScript archive (torch.jit.save), not a torch.save checkpoint; save the model's "
        "state_dict() with torch.save instead");
  }
  return prefix;
}

void check_byte_order(const ZipArchive& archive, const std::string& prefix, const ReadOptions& options) {
  const RandomAccessFile& file = archive.file();
  if (!host_is_little_endian()) {
    file.fail("checkpoints can only be read on little-endian machines");
  }
  const ZipArchive::Record* record = archive.find(prefix + "/byteorder");
  if (record == nullptr) return;  // written since PyTorch 1.10; older files are little-endian
  if (record->size > 16) {
    file.fail("record '" + printable(record->name) + "' is " + std::to_string(record->size) +
              " bytes long; expected 'little' or 'big'");
  }
  const std::string order = archive.read_to_string(*record, options.verify_checksums);
  if (order == "big") {
    file.fail(
        "the checkpoint was saved on a big-endian machine (byteorder 'big'); only little-endian "
        "checkpoints are supported");
  }
  if (order != "little") {
    file.fail("record '" + printable(record->name) + "' says '" + printable(order) + "'; expected 'little' or 'big'");
  }
}

// Indexes each storage record once (a StorageSource of the layout) and hands out the same one for every later
// reference, so that views of one storage share it as they did in Python. Only the storages of the tensors kept
// are ever asked for. No data is read here: the record's place in the file is checked, its bytes are read later
// (CheckpointIndex), with their CRC-32.
class StorageIndexer {
 public:
  StorageIndexer(const ZipArchive& archive, std::string prefix, std::vector<StorageSource>& storages)
      : archive_(archive), prefix_(std::move(prefix)), storages_(storages) {}

  // The index of the storage in `storages`.
  size_t find(const StorageRef& request) {
    const RandomAccessFile& file = archive_.file();
    const std::string name = prefix_ + "/data/" + request.key;
    if (!is_known_location(request.location)) {
      file.fail("storage '" + printable(name) + "' has unsupported location '" + printable(request.location) +
                "' (expected 'cpu' or 'cuda:N')");
    }
    const auto known = indices_.find(request.key);
    if (known != indices_.end()) {
      const StorageSource& storage = storages_[known->second];
      if (storage.dtype != request.dtype) {
        file.fail("storage '" + printable(name) + "' is used both as " + dtype_name(storage.dtype) + " and as " +
                  dtype_name(request.dtype));
      }
      check_element_count(name, storage.element_count, request);
      return known->second;
    }

    const ZipArchive::Record* record = archive_.find(name);
    if (record == nullptr) {
      file.fail("record '" + printable(name) + "' is missing (the pickle refers to storage '" + printable(request.key) +
                "')");
    }
    const uint64_t element_size = c10::elementSize(request.dtype);
    if (record->size % element_size != 0) {
      file.fail("record '" + printable(name) + "' holds " + std::to_string(record->size) +
                " bytes, which is not a whole number of " + dtype_name(request.dtype) + " elements (" +
                std::to_string(element_size) + " bytes each)");
    }
    const int64_t element_count = static_cast<int64_t>(record->size / element_size);
    check_element_count(name, element_count, request);
    // Each record is loaded once only, so the total is at most the file size unless records overlap; a hostile
    // archive listing one huge record under many names must not multiply the memory it costs.
    if (record->size > file.size() - bytes_indexed_) {
      file.fail(
          "corrupt zip archive (the storage records add up to more bytes than the file holds; records "
          "overlap)");
    }
    bytes_indexed_ += record->size;
    // Checks the record can be read (stored, not encrypted, its local header and data inside the file) now,
    // before anything is read into anything.
    archive_.data_offset_of(*record);

    StorageSource storage;
    storage.what = "record '" + printable(name) + "'";
    storage.dtype = request.dtype;
    storage.element_count = element_count;
    storage.byte_count = record->size;
    storage.position = record->local_header_offset;
    storage.record = record;
    storage.meta = torch::empty({element_count}, torch::TensorOptions().dtype(request.dtype).device(torch::kMeta));
    storages_.push_back(std::move(storage));
    indices_.emplace(request.key, storages_.size() - 1);
    return storages_.size() - 1;
  }

 private:
  void check_element_count(const std::string& name, int64_t actual, const StorageRef& request) const {
    if (actual != request.element_count) {
      archive_.file().fail("record '" + printable(name) + "' holds " + std::to_string(actual) + " " +
                           dtype_name(request.dtype) + " elements, but the pickle says " +
                           std::to_string(request.element_count));
    }
  }

  const ZipArchive& archive_;
  const std::string prefix_;
  std::vector<StorageSource>& storages_;
  std::map<std::string, size_t> indices_;
  uint64_t bytes_indexed_ = 0;
};

}  // namespace

CheckpointLayout index_torch_zip_checkpoint(const RandomAccessFile& file, const ReadOptions& options) {
  CheckpointLayout layout;
  layout.archive = std::make_unique<ZipArchive>(file);
  const ZipArchive& archive = *layout.archive;
  const std::string prefix = find_prefix(archive);
  check_byte_order(archive, prefix, options);

  const ZipArchive::Record* pickle_record = archive.find(prefix + kPickleRecordSuffix);
  const std::string pickle = archive.read_to_string(*pickle_record, options.verify_checksums);
  MemoryPickleInput input(pickle);
  const UnpickledTree tree = unpickle(input, {file.path(), "record '" + printable(pickle_record->name) + "'",
                                              PersistentIds::kZipStorages, options.skip_unknown_globals});

  StateDictSelection selection = select_state_dict(*tree.root, file, options.unwrap);
  layout.format = "torch-zip";
  if (!tree.skipped_globals.empty()) {
    layout.notes.push_back(skipped_globals_note(tree.skipped_globals, tree.skipped_globals_overflowed));
  }
  layout.notes.insert(layout.notes.end(), selection.notes.begin(), selection.notes.end());
  layout.names.reserve(selection.tensors.size());
  layout.tensors.reserve(selection.tensors.size());
  StorageIndexer storages(archive, prefix, layout.storages);
  for (auto& [name, value] : selection.tensors) {
    const TensorRef tensor = tensor_ref(*value);
    const StorageRef storage = storage_ref(*tensor.storage);
    const size_t index = storages.find(storage);
    layout.tensors.push_back({tensor_from_storage(layout.storages[index].meta, storage.key, tensor.storage_offset,
                                                  tensor.sizes, tensor.strides, file.path()),
                              index});
    layout.names.push_back(std::move(name));
  }
  return layout;
}

}  // namespace vitorch::checkpoint
