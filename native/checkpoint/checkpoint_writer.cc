// write_checkpoint: checks that the tensors can be written (before any file is created), then streams them into an
// AtomicFileWriter in the chosen format, tensor by tensor, so the extra memory is at most one tensor (the largest
// that needs a contiguous copy) however large the checkpoint.
#include "checkpoint/checkpoint_writer.h"

#include <caffe2/serialize/inline_container.h>

#include <algorithm>
#include <bit>
#include <exception>
#include <new>
#include <unordered_map>

#include "checkpoint/atomic_file_writer.h"
#include "checkpoint/pickle_writer.h"
#include "checkpoint/safetensors_writer.h"
#include "common/describe.h"
#include "common/errors.h"

namespace vitorch::checkpoint {

namespace {

// Both formats store tensors little-endian, and the bytes are written as they lie in memory.
static_assert(std::endian::native == std::endian::little, "checkpoint writing assumes a little-endian host");

const std::string kSupportedDtypes = "float32, float64, float16, bfloat16, int64, int32, int16, int8, uint8, bool";

bool is_supported_dtype(c10::ScalarType dtype) {
  switch (dtype) {
    case c10::ScalarType::Float:
    case c10::ScalarType::Double:
    case c10::ScalarType::Half:
    case c10::ScalarType::BFloat16:
    case c10::ScalarType::Long:
    case c10::ScalarType::Int:
    case c10::ScalarType::Short:
    case c10::ScalarType::Char:
    case c10::ScalarType::Byte:
    case c10::ScalarType::Bool: return true;
    default: return false;
  }
}

// Python decodes pickled str strictly and JSON must be UTF-8, so a name that is not well-formed UTF-8 (overlong
// forms, surrogates, code points past U+10FFFF, truncated sequences) would make a file no loader accepts.
bool is_valid_utf8(const std::string& text) {
  const auto* bytes = reinterpret_cast<const unsigned char*>(text.data());
  const size_t size = text.size();
  size_t i = 0;
  while (i < size) {
    const unsigned char lead = bytes[i];
    size_t length = 0;
    uint32_t code_point = 0;
    uint32_t minimum = 0;
    if (lead < 0x80) {
      ++i;
      continue;
    } else if ((lead & 0xE0) == 0xC0) {
      length = 2, code_point = lead & 0x1F, minimum = 0x80;
    } else if ((lead & 0xF0) == 0xE0) {
      length = 3, code_point = lead & 0x0F, minimum = 0x800;
    } else if ((lead & 0xF8) == 0xF0) {
      length = 4, code_point = lead & 0x07, minimum = 0x10000;
    } else {
      return false;
    }
    if (size - i < length) return false;
    for (size_t k = 1; k < length; ++k) {
      if ((bytes[i + k] & 0xC0) != 0x80) return false;
      code_point = (code_point << 6) | (bytes[i + k] & 0x3F);
    }
    if (code_point < minimum || code_point > 0x10FFFF || (code_point >= 0xD800 && code_point <= 0xDFFF)) {
      return false;
    }
    i += length;
  }
  return true;
}

std::string quoted(const std::string& name) { return "'" + name + "'"; }

void validate(const std::string& path, const NamedTensors& tensors, const WriteOptions& options) {
  const std::string prefix = path + ": cannot write checkpoint: ";
  if (options.format != WriteFormat::kTorchZip && options.format != WriteFormat::kSafetensors) {
    throw InvalidValue(prefix + "unknown checkpoint format " + std::to_string(static_cast<int>(options.format)));
  }
  std::unordered_map<std::string, size_t> index_by_name;
  for (size_t index = 0; index < tensors.size(); ++index) {
    const auto& [name, tensor] = tensors[index];
    if (name.empty()) {
      throw InvalidValue(prefix + "tensor " + std::to_string(index) + " has an empty name");
    }
    if (!is_valid_utf8(name)) {
      throw InvalidValue(prefix + "the name of tensor " + std::to_string(index) + " is not valid UTF-8");
    }
    const auto [previous, inserted] = index_by_name.emplace(name, index);
    if (!inserted) {
      throw InvalidValue(prefix + "the name " + quoted(name) + " is used twice (tensors " +
                         std::to_string(previous->second) + " and " + std::to_string(index) + ")");
    }
    if (!tensor.defined()) {
      throw InvalidValue(prefix + "tensor " + quoted(name) + " is undefined");
    }
    if (!is_supported_dtype(tensor.scalar_type())) {
      throw InvalidValue(prefix + "tensor " + quoted(name) + " has dtype " + dtype_name(tensor.scalar_type()) +
                         ", which cannot be saved (supported: " + kSupportedDtypes + ")");
    }
    if (tensor.layout() != c10::kStrided) {
      throw InvalidValue(prefix + "tensor " + quoted(name) +
                         " is not a dense tensor (sparse and other layouts cannot be saved)");
    }
    if (tensor.is_meta()) {
      throw InvalidValue(prefix + "tensor " + quoted(name) + " is on the meta device and has no data to save");
    }
  }

  if (options.format == WriteFormat::kSafetensors) {
    if (index_by_name.count("__metadata__") != 0) {
      throw InvalidValue(prefix +
                         "a tensor cannot be named '__metadata__' in a safetensors file (the name is "
                         "reserved for the metadata)");
    }
    for (const auto& [key, value] : options.metadata) {
      if (!is_valid_utf8(key) || !is_valid_utf8(value)) {
        throw InvalidValue(prefix + "metadata keys and values must be valid UTF-8");
      }
    }
  } else if (!options.metadata.empty()) {
    // Dropping it silently would lose what the caller asked to save.
    throw InvalidValue(prefix + "metadata can only be saved in the safetensors format");
  }
}

uint64_t byte_size(const torch::Tensor& tensor) {
  return static_cast<uint64_t>(tensor.numel()) * static_cast<uint64_t>(tensor.element_size());
}

// Hands out each tensor's elements as one dense row-major CPU block, the form both formats store. A CPU tensor
// that already is one is used where it lies; any other (a transposed or strided view, a lazily negated view, a
// tensor on another device) is copied. Only the viewed elements are written, never the rest of a larger base.
//
// Copies go into one scratch buffer allocated up front for the largest tensor that needs one, rather than a new
// tensor per copy: freeing and allocating differently sized multi-MB blocks in turn fragments the heap, which
// made the resident size grow by 200 MB while writing ViT-B/16 from transposed views, instead of by one tensor.
class DenseBlocks {
 public:
  explicit DenseBlocks(const NamedTensors& tensors) {
    uint64_t largest = 0;
    for (const auto& entry : tensors) {
      if (!usable_in_place(entry.second)) largest = std::max(largest, byte_size(entry.second));
    }
    if (largest > 0) scratch_ = torch::empty({static_cast<int64_t>(largest)}, torch::kByte);
  }

  // The tensor's bytes (byte_size(tensor) of them), valid until the next call.
  const void* bytes_of(const torch::Tensor& tensor) {
    if (usable_in_place(tensor)) return tensor.data_ptr();
    if (byte_size(tensor) == 0) return nullptr;
    const torch::NoGradGuard no_autograd;  // a copy of a parameter must not record a graph
    torch::Tensor dense =
        torch::from_blob(scratch_.data_ptr(), tensor.sizes(), torch::TensorOptions().dtype(tensor.scalar_type()));
    dense.copy_(tensor);  // copy_ gathers strided elements, applies a negation bit and moves across devices
    return scratch_.data_ptr();
  }

 private:
  static bool usable_in_place(const torch::Tensor& tensor) {
    return tensor.device().is_cpu() && tensor.is_contiguous() && !tensor.is_neg() && !tensor.is_conj();
  }

  torch::Tensor scratch_;
};

// The .pth container is written by torch.save's own writer, libtorch's caffe2::serialize::PyTorchStreamWriter
// (exported from libtorch_cpu in every release vitorch supports), so the zip details PyTorch relies on are its
// own: every record under one folder ("archive/", whatever the file's name, which keeps record names independent
// of the path), stored uncompressed with its data 64-byte aligned (mmap=True loading needs it), CRC-32s, zip64
// records, and at the end the "version" and ".data/serialization_id" records.
//
// The bytes still go through the AtomicFileWriter, which keeps its guarantees (a temporary file, fsync, rename):
// the writer's sink appends to it. An I/O error is kept and rethrown as the AtomicFileWriter's CheckpointError
// (with the OS reason) rather than as the writer's generic failure, and it is never reported to the writer, whose
// zip code is C: it would have to unwind through it, and its destructor, which finishes an unfinished archive,
// would throw again. After an error (or an exception from the caller) the sink discards what it is given; the
// temporary file is removed by the AtomicFileWriter.
class TorchZipRecords {
 public:
  explicit TorchZipRecords(AtomicFileWriter& file)
      : file_(file), writer_([this](const void* data, size_t size) { return sink(data, size); }) {}

  ~TorchZipRecords() {
    if (writer_.finalized()) return;
    discarding_ = true;
    try {
      writer_.writeEndOfFile();  // marks the writer finished even if it throws, so its destructor does nothing
    } catch (...) {
    }
  }

  TorchZipRecords(const TorchZipRecords&) = delete;
  TorchZipRecords& operator=(const TorchZipRecords&) = delete;

  // `name` is relative to the archive's folder.
  void add(const std::string& name, const void* data, uint64_t size) {
    checked([&] { writer_.writeRecord(name, data, static_cast<size_t>(size)); });
  }
  void add(const std::string& name, const std::string& bytes) { add(name, bytes.data(), bytes.size()); }

  // Adds the version and serialization id records and the central directory.
  void finish() {
    checked([&] { writer_.writeEndOfFile(); });
  }

 private:
  size_t sink(const void* data, size_t size) {
    if (discarding_) return size;
    try {
      file_.write(data, size);
    } catch (...) {
      error_ = std::current_exception();
      discarding_ = true;
    }
    return size;
  }

  template <typename Call>
  void checked(Call&& call) {
    try {
      call();
    } catch (const c10::Error&) {
      if (error_) std::rethrow_exception(error_);
      throw;
    }
    if (error_) std::rethrow_exception(error_);
  }

  AtomicFileWriter& file_;
  bool discarding_ = false;
  std::exception_ptr error_;
  caffe2::serialize::PyTorchStreamWriter writer_;  // last: its sink uses the members above
};

// The records torch.save writes, in its order: data.pkl first (it only needs the tensors' metadata), then
// byteorder and one record per storage; finish() adds the rest.
void write_torch_zip(AtomicFileWriter& file, const NamedTensors& tensors) {
  TorchZipRecords zip(file);
  zip.add("data.pkl", pickle_state_dict(tensors));
  zip.add("byteorder", std::string("little"));
  DenseBlocks blocks(tensors);
  for (size_t index = 0; index < tensors.size(); ++index) {
    const torch::Tensor& tensor = tensors[index].second;
    zip.add("data/" + std::to_string(index), blocks.bytes_of(tensor), byte_size(tensor));
  }
  zip.finish();
}

void write_safetensors(AtomicFileWriter& file, const NamedTensors& tensors,
                       const std::map<std::string, std::string>& metadata) {
  SafetensorsWriter writer(file, tensors, metadata);
  DenseBlocks blocks(tensors);
  for (const auto& entry : tensors) {
    writer.write_tensor_data(blocks.bytes_of(entry.second), byte_size(entry.second));
  }
  writer.finish();
}

}  // namespace

void write_checkpoint(const std::string& path, const NamedTensors& tensors, const WriteOptions& options) {
  validate(path, tensors, options);
  // The writers throw CheckpointError themselves; this turns what libtorch or the allocator may throw while
  // copying a tensor into one naming the file. The temporary file is removed by the writer's destructor.
  try {
    AtomicFileWriter file(path);
    switch (options.format) {
      case WriteFormat::kTorchZip: write_torch_zip(file, tensors); break;
      case WriteFormat::kSafetensors: write_safetensors(file, tensors, options.metadata); break;
    }
    file.commit();
  } catch (const CheckpointError&) {
    throw;
  } catch (const c10::Error& error) {
    throw CheckpointError(path + ": cannot write checkpoint: " + error.what_without_backtrace());
  } catch (const std::bad_alloc&) {
    throw CheckpointError(path + ": cannot write checkpoint: out of memory while copying a tensor");
  }
}

}  // namespace vitorch::checkpoint
