// The zip-format torch.save reader (see torch_zip_reader.h).
#include "checkpoint/torch_zip_reader.h"

#include <cstring>
#include <map>
#include <new>

#include "checkpoint/message_text.h"
#include "checkpoint/unpickler.h"
#include "checkpoint/zip_archive.h"
#include "common/errors.h"

namespace vitorch::checkpoint {

namespace {

const std::string kPickleRecordSuffix = "/data.pkl";

bool ends_with(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() && text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

bool starts_with(const std::string& text, const std::string& prefix) { return text.rfind(prefix, 0) == 0; }

bool host_is_little_endian() {
  const uint16_t probe = 1;
  unsigned char first = 0;
  std::memcpy(&first, &probe, 1);
  return first == 1;
}

// The Python name of a dtype, as users know it from torch ("float32", not c10's "Float").
std::string dtype_name(c10::ScalarType dtype) {
  switch (dtype) {
    case c10::ScalarType::Float: return "float32";
    case c10::ScalarType::Double: return "float64";
    case c10::ScalarType::Half: return "float16";
    case c10::ScalarType::BFloat16: return "bfloat16";
    case c10::ScalarType::Long: return "int64";
    case c10::ScalarType::Int: return "int32";
    case c10::ScalarType::Short: return "int16";
    case c10::ScalarType::Char: return "int8";
    case c10::ScalarType::Byte: return "uint8";
    case c10::ScalarType::Bool: return "bool";
    default: return c10::toString(dtype);
  }
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
    file.fail("not a PyTorch checkpoint (it is a zip archive, but has no '<folder>/data.pkl' record as torch.save "
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
    file.fail("is a TorchScript archive (torch.jit.save), not a torch.save checkpoint; save the model's "
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
    file.fail("the checkpoint was saved on a big-endian machine (byteorder 'big'); only little-endian "
              "checkpoints are supported");
  }
  if (order != "little") {
    file.fail("record '" + printable(record->name) + "' says '" + printable(order) +
              "'; expected 'little' or 'big'");
  }
}

// Storages are saved from any device; they are all loaded onto the CPU.
bool is_known_location(const std::string& location) {
  if (location == "cpu" || location == "cuda" || location == "mps") return true;
  const std::string cuda = "cuda:";
  if (!starts_with(location, cuda) || location.size() == cuda.size() || location.size() > cuda.size() + 4) {
    return false;
  }
  for (size_t i = cuda.size(); i < location.size(); ++i) {
    if (location[i] < '0' || location[i] > '9') return false;
  }
  return true;
}

// Loads each storage record once, as a contiguous 1-D CPU tensor, and hands out the same tensor for every later
// reference so that views of one storage share it as they did in Python.
class StorageCache {
 public:
  StorageCache(const ZipArchive& archive, std::string prefix, const ReadOptions& options)
      : archive_(archive), prefix_(std::move(prefix)), options_(options) {}

  torch::Tensor load(const StorageRequest& request) {
    const RandomAccessFile& file = archive_.file();
    const std::string name = prefix_ + "/data/" + request.key;
    if (!is_known_location(request.location)) {
      file.fail("storage '" + printable(name) + "' has unsupported location '" + printable(request.location) +
                "' (expected 'cpu' or 'cuda:N')");
    }
    const auto cached = storages_.find(request.key);
    if (cached != storages_.end()) {
      const torch::Tensor& storage = cached->second;
      if (storage.scalar_type() != request.dtype) {
        file.fail("storage '" + printable(name) + "' is used both as " + dtype_name(storage.scalar_type()) +
                  " and as " + dtype_name(request.dtype));
      }
      check_element_count(name, storage.numel(), request);
      return storage;
    }

    const ZipArchive::Record* record = archive_.find(name);
    if (record == nullptr) {
      file.fail("record '" + printable(name) + "' is missing (the pickle refers to storage '" +
                printable(request.key) + "')");
    }
    const uint64_t element_size = c10::elementSize(request.dtype);
    if (record->size % element_size != 0) {
      file.fail("record '" + printable(name) + "' holds " + std::to_string(record->size) +
                " bytes, which is not a whole number of " + dtype_name(request.dtype) + " elements (" +
                std::to_string(element_size) + " bytes each)");
    }
    const int64_t element_count = static_cast<int64_t>(record->size / element_size);
    check_element_count(name, element_count, request);
    // Each record can be loaded once only, so the total is at most the file size unless records overlap; a
    // hostile archive listing one huge record under many names must not multiply the memory it costs.
    if (record->size > file.size() - bytes_loaded_) {
      file.fail("corrupt zip archive (the storage records add up to more bytes than the file holds; records "
                "overlap)");
    }
    bytes_loaded_ += record->size;

    torch::Tensor storage;
    try {
      storage = torch::empty({element_count}, torch::TensorOptions().dtype(request.dtype));
    } catch (const c10::Error& error) {
      file.fail("cannot allocate " + std::to_string(record->size) + " bytes for record '" + printable(name) +
                "': " + error.what_without_backtrace());
    } catch (const std::bad_alloc&) {
      file.fail("out of memory allocating " + std::to_string(record->size) + " bytes for record '" +
                printable(name) + "'");
    }
    archive_.read(*record, storage.data_ptr(), record->size, options_.verify_checksums);
    if (request.dtype == c10::ScalarType::Bool) check_booleans(name, storage);
    storages_.emplace(request.key, storage);
    return storage;
  }

 private:
  void check_element_count(const std::string& name, int64_t actual, const StorageRequest& request) const {
    if (actual != request.element_count) {
      archive_.file().fail("record '" + printable(name) + "' holds " + std::to_string(actual) + " " +
                           dtype_name(request.dtype) + " elements, but the pickle says " +
                           std::to_string(request.element_count));
    }
  }

  // A bool must be stored as 0 or 1; any other byte would be undefined behaviour once read as a C++ bool.
  void check_booleans(const std::string& name, const torch::Tensor& storage) const {
    const auto* bytes = static_cast<const unsigned char*>(storage.data_ptr());
    const int64_t count = storage.numel();
    for (int64_t i = 0; i < count; ++i) {
      if (bytes[i] > 1) {
        archive_.file().fail("record '" + printable(name) + "' is corrupt (bool element " + std::to_string(i) +
                             " has byte value " + std::to_string(bytes[i]) + ")");
      }
    }
  }

  const ZipArchive& archive_;
  const std::string prefix_;
  const ReadOptions& options_;
  std::map<std::string, torch::Tensor> storages_;
  uint64_t bytes_loaded_ = 0;
};

// The top-level object must be a dict (or OrderedDict) of str -> tensor.
NamedTensors named_tensors(const PickleValue& root, const RandomAccessFile& file) {
  using Kind = PickleValue::Kind;
  const std::string expected = "expected a dict of tensors (a state_dict)";
  if (root.kind != Kind::kDict) {
    file.fail(expected + ", found " + describe_kind(root.kind));
  }
  NamedTensors tensors;
  tensors.reserve(root.entries.size());
  for (const auto& [key, value] : root.entries) {
    if (key->kind != Kind::kString) {
      file.fail(expected + ", found a key that is " + describe_kind(key->kind) + ", not a str");
    }
    if (value->kind != Kind::kTensor) {
      file.fail(expected + ", but the value of key '" + printable(key->text) + "' is " +
                describe_kind(value->kind) + ", not a tensor");
    }
    tensors.emplace_back(key->text, value->tensor);
  }
  return tensors;
}

}  // namespace

NamedTensors read_torch_zip_checkpoint(const RandomAccessFile& file, const ReadOptions& options) {
  const ZipArchive archive(file);
  const std::string prefix = find_prefix(archive);
  check_byte_order(archive, prefix, options);

  const ZipArchive::Record* pickle_record = archive.find(prefix + kPickleRecordSuffix);
  const std::string pickle = archive.read_to_string(*pickle_record, options.verify_checksums);

  StorageCache storages(archive, prefix, options);
  const StorageLoader load = [&storages](const StorageRequest& request) { return storages.load(request); };
  const UnpickledTree tree = unpickle(pickle, load, file.path(), pickle_record->name);
  return named_tensors(*tree.root, file);
}

}  // namespace vitorch::checkpoint
