// A streaming writer for zip archives of uncompressed ("stored") records, laid out the way torch.save lays them out.
//
// Each record is written as soon as it is added (local header, then the data), so an archive of any size needs no
// more memory than the record in hand plus a few dozen bytes per record for the central directory. The caller has
// the record's bytes in memory, so the CRC-32 and size go into the local header up front and no data descriptor is
// needed. Like torch.save's writer:
//   - every record's data starts at a 64-byte-aligned file offset, by padding the local header's extra field with
//     a field of id 'FB' (0x4246); PyTorch's loader (and mmap=True loading) relies on the alignment;
//   - a zip64 end-of-central-directory record and locator are always written, and zip64 extra fields wherever a
//     size or offset does not fit in 32 bits (files and records of 4 GiB or more).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "checkpoint/atomic_file_writer.h"

namespace vitorch::checkpoint {

class ZipWriter {
 public:
  // Record data is aligned to this many bytes from the start of the file.
  static constexpr uint64_t kDataAlignment = 64;

  // Writes into `file` starting at its current position, which must be 0 (offsets are absolute).
  explicit ZipWriter(AtomicFileWriter& file);

  // Appends one stored record. Names must be unique (not checked here; the caller chooses them).
  void add_record(const std::string& name, const void* data, uint64_t size);
  void add_record(const std::string& name, const std::string& bytes) { add_record(name, bytes.data(), bytes.size()); }

  // Writes the central directory and the end records. No record can be added afterwards.
  void finish();

 private:
  struct Entry {
    std::string name;
    uint32_t crc32 = 0;
    uint64_t size = 0;
    uint64_t local_header_offset = 0;
  };

  AtomicFileWriter& file_;
  std::vector<Entry> entries_;
  bool finished_ = false;
};

}  // namespace vitorch::checkpoint
