// libFuzzer target: the zip reader (checkpoint/zip_archive.cc) on arbitrary file bytes: the central directory, then
// every record read with its CRC checked; then the whole checkpoint reader on the same file (format detection, the
// torch zip and legacy readers, storages and tensors), with CRC checks off so that mutations inside records reach
// the pickle and tensor code. Any input must give records / tensors or a CheckpointError. Seeds: the real
// checkpoints in test/fixtures/generated and truncations of them (native/fuzz/make_seeds.py).
#include <cstddef>
#include <cstdint>
#include <string>

#include "checkpoint/checkpoint_reader.h"
#include "checkpoint/random_access_file.h"
#include "checkpoint/zip_archive.h"
#include "common/errors.h"
#include "fuzz_support.h"

namespace {

using namespace vitorch::checkpoint;

// Records larger than this are located but not copied: the fuzz input is small, so a larger claim is refused
// before any copy anyway, and this keeps an accepted huge claim from being a slow-unit report instead of a finding.
constexpr uint64_t kMaxCopied = uint64_t{1} << 24;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string& path = vitorch::fuzz::input_as_file(data, size);
  try {
    RandomAccessFile file(path);
    ZipArchive archive(file);
    for (const ZipArchive::Record& record : archive.records()) {
      try {
        if (archive.find(record.name) == nullptr) __builtin_trap();  // every listed record can be found by name
        const uint64_t offset = archive.data_offset_of(record);
        if (offset + record.size > file.size()) __builtin_trap();  // data_offset_of promised it is inside the file
        if (record.size <= kMaxCopied) (void)archive.read_to_string(record, /*verify_checksum=*/true);
      } catch (const vitorch::CheckpointError&) {
      }
    }
  } catch (const vitorch::CheckpointError&) {
  }
  for (const bool skip : {false, true}) {
    ReadOptions options;
    options.verify_checksums = false;
    options.skip_unknown_globals = skip;
    try {
      (void)load_checkpoint_file(path, options);
    } catch (const vitorch::CheckpointError&) {
    }
  }
  return 0;
}
