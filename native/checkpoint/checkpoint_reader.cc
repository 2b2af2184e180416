// read_checkpoint: opens the file, tells the checkpoint formats apart by their first bytes, and hands the file to
// the reader for that format. The legacy torch.save format and safetensors are recognised so that they get a clear
// message now and a reader later, added as one more case in read_checkpoint.
#include "checkpoint/checkpoint_reader.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <new>

#include "checkpoint/random_access_file.h"
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

constexpr size_t kHeadSize = 16;

// The legacy format starts with a pickled magic number: PROTO 2, then LONG1 of 10 bytes holding
// 0x1950a86a20f9469cfc6c little-endian.
constexpr unsigned char kLegacyMagic[] = {0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46,
                                          0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19};

Format detect_format(const unsigned char* head, size_t head_size, uint64_t file_size) {
  auto starts_with = [&](const unsigned char* bytes, size_t count) {
    return head_size >= count && std::memcmp(head, bytes, count) == 0;
  };
  // A zip starts with a local file header; an archive with no records starts with its end record.
  static const unsigned char kZipLocalHeader[] = {'P', 'K', 3, 4};
  static const unsigned char kZipEmptyArchive[] = {'P', 'K', 5, 6};
  if (starts_with(kZipLocalHeader, 4) || starts_with(kZipEmptyArchive, 4)) return Format::kTorchZip;
  if (starts_with(kLegacyMagic, sizeof kLegacyMagic)) return Format::kTorchLegacy;
  // safetensors: an 8-byte little-endian header length, then the JSON header itself.
  if (head_size >= 9 && head[8] == '{') {
    uint64_t header_size = 0;
    for (int i = 7; i >= 0; --i) header_size = (header_size << 8) | head[i];
    if (header_size >= 2 && header_size <= file_size - 8) return Format::kSafetensors;
  }
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

NamedTensors read_file(const RandomAccessFile& file, const ReadOptions& options) {
  if (file.size() == 0) {
    file.fail("not a PyTorch checkpoint (the file is empty)");
  }
  unsigned char head[kHeadSize];
  const size_t head_size = static_cast<size_t>(std::min<uint64_t>(kHeadSize, file.size()));
  file.read_exact(0, head, head_size);

  switch (detect_format(head, head_size, file.size())) {
    case Format::kTorchZip:
      return read_torch_zip_checkpoint(file, options);
    case Format::kTorchLegacy:
      file.fail("the legacy torch.save format (PyTorch < 1.6, or _use_new_zipfile_serialization=False) is not "
                "supported yet; re-save the state dict with a current torch.save");
    case Format::kSafetensors:
      file.fail("safetensors files are not supported yet; use a torch.save checkpoint");
    case Format::kPlainPickle:
      file.fail("not a PyTorch checkpoint (it is a plain pickle file, not one written by torch.save)");
    case Format::kUnknown:
      break;
  }
  file.fail("not a PyTorch checkpoint (expected a zip archive written by torch.save, found a file starting with "
            "bytes " + hex_bytes(head, head_size < 8 ? head_size : 8) + ")");
}

}  // namespace

NamedTensors read_checkpoint(const std::string& path, const ReadOptions& options) {
  // The readers throw CheckpointError themselves; this is the net for anything from libtorch or the allocator,
  // so that a bad file never surfaces as anything but a CheckpointError naming it.
  try {
    const RandomAccessFile file(path);
    return read_file(file, options);
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

}  // namespace vitorch::checkpoint
