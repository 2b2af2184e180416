// A read-only reader for the zip archives torch.save writes (stored records only).
//
// torch.save (PyTorch >= 1.6) writes a zip whose records are stored uncompressed, each with a local header padded
// so the data is 64-byte aligned, sizes and CRCs in a trailing data descriptor (so the local header's own sizes are
// zero), and always a zip64 end-of-central-directory record. This reader trusts nothing: every size, offset and
// count from the file is checked against the file size before it is used, so any input bytes give either records or
// a vitorch::CheckpointError naming the file and what is wrong.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "checkpoint/random_access_file.h"

namespace vitorch::checkpoint {

class ZipArchive {
 public:
  struct Record {
    std::string name;
    uint64_t size = 0;             // uncompressed size
    uint64_t compressed_size = 0;  // equal to size for stored records
    uint32_t crc32 = 0;
    uint16_t method = 0;  // 0 = stored, 8 = deflate, ...
    uint16_t flags = 0;   // general purpose bit flags (bit 0 = encrypted)
    uint64_t local_header_offset = 0;
  };

  // Reads the end-of-central-directory record (zip64 if present) and the central directory. The file must outlive
  // the archive. Throws CheckpointError if the file is not a readable zip archive.
  explicit ZipArchive(const RandomAccessFile& file);

  // Records in central-directory order.
  const std::vector<Record>& records() const { return records_; }

  // The record with exactly this name, or nullptr.
  const Record* find(const std::string& name) const;

  // Copies the record's bytes into `destination`, which must hold exactly record.size bytes (`destination_size`),
  // checking the CRC-32 on the way unless verify_checksum is false. Throws CheckpointError for compressed or
  // encrypted records, a bad local header, data outside the file, or a CRC mismatch.
  void read(const Record& record, void* destination, uint64_t destination_size, bool verify_checksum) const;

  // Where the record's data starts in the file, after the checks read() makes before copying anything (stored,
  // not encrypted, a local header that agrees with the central directory, data inside the file). Throws
  // CheckpointError as read() does.
  uint64_t data_offset_of(const Record& record) const;

  // read() into a new string; for the small records (data.pkl, byteorder).
  std::string read_to_string(const Record& record, bool verify_checksum) const;

  const RandomAccessFile& file() const { return file_; }

 private:
  struct DirectoryLocation {
    uint64_t entry_count = 0;
    uint64_t offset = 0;
    uint64_t size = 0;
    uint64_t end = 0;  // where the (zip64) end-of-central-directory structures begin
  };

  DirectoryLocation locate_central_directory() const;
  void read_central_directory(const DirectoryLocation& location);
  uint64_t data_offset(const Record& record) const;
  [[noreturn]] void fail(const std::string& message) const { file_.fail(message); }

  const RandomAccessFile& file_;
  std::vector<Record> records_;
  std::unordered_map<std::string, size_t> index_by_name_;
  uint64_t central_directory_offset_ = 0;  // record data must end before it
};

}  // namespace vitorch::checkpoint
