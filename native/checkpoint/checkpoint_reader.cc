// index_checkpoint_file: tells the checkpoint formats apart by their first bytes, hands the file to the reader for
// that format (torch_zip_reader.h, torch_legacy_reader.h, safetensors_reader.h), then removes a DataParallel
// 'module.' prefix whatever the format. Plain pickles and unknown files get a message saying what they are not.
// load_checkpoint_file indexes the file (checkpoint_index.h) and materialises every entry.
#include "checkpoint/checkpoint_reader.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <new>

#include "checkpoint/checkpoint_index.h"
#include "checkpoint/random_access_file.h"
#include "checkpoint/safetensors_reader.h"
#include "checkpoint/state_dict_selection.h"
#include "checkpoint/torch_legacy_reader.h"
#include "checkpoint/torch_zip_reader.h"
#include "common/errors.h"

namespace vitorch::checkpoint {

namespace {

enum class Format {
  kTorchZip,     // torch.save since PyTorch 1.6
  kTorchLegacy,  // torch.save before 1.6, or with _use_new_zipfile_serialization=False
  kSafetensors,
  kPlainPickle,  // a pickle that is not a torch.save file
  kUnknown,
};

// Enough for the longest signature: the legacy magic number pickle with a FRAME.
constexpr size_t kHeadSize = 32;

Format detect_format(const unsigned char* head, size_t head_size, uint64_t file_size) {
  auto starts_with = [&](const unsigned char* bytes, size_t count) {
    return head_size >= count && std::memcmp(head, bytes, count) == 0;
  };
  // A zip starts with a local file header; an archive with no records starts with its end record.
  static const unsigned char kZipLocalHeader[] = {'P', 'K', 3, 4};
  static const unsigned char kZipEmptyArchive[] = {'P', 'K', 5, 6};
  if (starts_with(kZipLocalHeader, 4) || starts_with(kZipEmptyArchive, 4)) return Format::kTorchZip;
  // The legacy format starts with a pickled magic number, so it is told apart before plain pickles.
  if (starts_like_torch_legacy(head, head_size)) return Format::kTorchLegacy;
  // safetensors: an 8-byte little-endian header length, then the JSON header itself.
  if (starts_like_safetensors(head, head_size, file_size)) return Format::kSafetensors;
  if (head_size >= 2 && head[0] == 0x80 && head[1] >= 2 && head[1] <= 5) return Format::kPlainPickle;
  return Format::kUnknown;
}

std::string hex_bytes(const unsigned char* bytes, size_t count) {
  std::string text;
  for (size_t i = 0; i < count; ++i) {
    char byte[4];
    std::snprintf(byte, sizeof byte, "%s%02x", i ? " " : "", bytes[i]);
    text += byte;
  }
  return text;
}

CheckpointLayout read_layout(const RandomAccessFile& file, const ReadOptions& options) {
  if (file.size() == 0) {
    file.fail("not a PyTorch checkpoint (the file is empty)");
  }
  unsigned char head[kHeadSize];
  const size_t head_size = static_cast<size_t>(std::min<uint64_t>(kHeadSize, file.size()));
  file.read_exact(0, head, head_size);

  switch (detect_format(head, head_size, file.size())) {
    case Format::kTorchZip: return index_torch_zip_checkpoint(file, options);
    case Format::kTorchLegacy: return index_torch_legacy_checkpoint(file, options);
    case Format::kSafetensors: return index_safetensors_checkpoint(file);
    case Format::kPlainPickle:
      file.fail("not a PyTorch checkpoint (it is a plain pickle file, not one written by torch.save)");
    case Format::kUnknown: break;
  }
  file.fail(
      "not a PyTorch checkpoint (expected a torch.save file or a safetensors file, found a file starting with "
      "bytes " +
      hex_bytes(head, head_size < 8 ? head_size : 8) + ")");
}

}  // namespace

CheckpointLayout index_checkpoint_file(const RandomAccessFile& file, const ReadOptions& options) {
  CheckpointLayout layout = read_layout(file, options);
  if (options.unwrap) strip_data_parallel_prefix(layout.names, layout.notes);
  return layout;
}

Checkpoint load_checkpoint_file(const std::string& path, const ReadOptions& options) {
  // The readers throw CheckpointError themselves; the index's net turns anything from libtorch or the allocator
  // into a CheckpointError naming the file.
  return CheckpointIndex::open(path, options).materialize();
}

NamedTensors read_checkpoint(const std::string& path, const ReadOptions& options) {
  return load_checkpoint_file(path, options).tensors;
}

}  // namespace vitorch::checkpoint
