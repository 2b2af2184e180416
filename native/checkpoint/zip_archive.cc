// ZipArchive: finds the end-of-central-directory record, follows the zip64 locator when there is one, parses the
// central directory, and copies stored records out with their CRC-32 checked.
//
// Layout facts used here (all integers little-endian), from the PKWARE APPNOTE:
//   end of central directory (22 bytes + comment), signature PK\5\6
//   zip64 end-of-central-directory locator (20 bytes, just before it), signature PK\6\7
//   zip64 end-of-central-directory record (56 bytes + extensible data), signature PK\6\6
//   central directory file header (46 bytes + name + extra + comment), signature PK\1\2
//   local file header (30 bytes + name + extra), signature PK\3\4
#include "checkpoint/zip_archive.h"

#include <algorithm>
#include <cstring>
#include <sstream>

#include "checkpoint/crc32.h"
#include "checkpoint/zip_format.h"

namespace vitorch::checkpoint {

namespace {

using namespace zip_format;

constexpr size_t kMaxCommentSize = 0xFFFF;
constexpr uint16_t kEncryptedFlag = 0x0001;

// Records are copied (and checksummed) in pieces this big, so each piece is checked while it is still in cache.
constexpr size_t kCopyChunkSize = size_t{4} << 20;

uint16_t le16(const unsigned char* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }

uint32_t le32(const unsigned char* p) {
  return static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8) | (static_cast<uint32_t>(p[2]) << 16) |
         (static_cast<uint32_t>(p[3]) << 24);
}

uint64_t le64(const unsigned char* p) {
  return static_cast<uint64_t>(le32(p)) | (static_cast<uint64_t>(le32(p + 4)) << 32);
}

std::string hex32(uint32_t value) {
  std::ostringstream out;
  out << "0x" << std::hex;
  out.width(8);
  out.fill('0');
  out << value;
  return out.str();
}

std::string method_name(uint16_t method) {
  switch (method) {
    case 8: return "deflate";
    case 9: return "deflate64";
    case 12: return "bzip2";
    case 14: return "lzma";
    case 93: return "zstd";
    case 95: return "xz";
    default: return "method " + std::to_string(method);
  }
}

// True if [offset, offset + length) lies within [0, limit).
bool fits(uint64_t offset, uint64_t length, uint64_t limit) { return offset <= limit && length <= limit - offset; }

}  // namespace

ZipArchive::ZipArchive(const RandomAccessFile& file) : file_(file) {
  const DirectoryLocation location = locate_central_directory();
  read_central_directory(location);
}

ZipArchive::DirectoryLocation ZipArchive::locate_central_directory() const {
  const uint64_t file_size = file_.size();
  if (file_size < kEndOfCentralDirectorySize) {
    fail("not a PyTorch checkpoint (expected a zip archive written by torch.save, but the file is only " +
         std::to_string(file_size) + " bytes)");
  }
  // The end record is the last thing in the file, followed only by a comment of at most 65535 bytes.
  const uint64_t tail_size = std::min<uint64_t>(file_size, kEndOfCentralDirectorySize + kMaxCommentSize);
  const uint64_t tail_offset = file_size - tail_size;
  std::vector<unsigned char> tail(static_cast<size_t>(tail_size));
  file_.read_exact(tail_offset, tail.data(), tail.size());

  // Search backwards; the comment length must agree with where the record sits, which rejects a signature that
  // merely happens to appear inside the comment or the last record's data.
  size_t found = tail.size();
  for (size_t at = tail.size() - kEndOfCentralDirectorySize + 1; at-- > 0;) {
    if (le32(&tail[at]) == kEndOfCentralDirectorySignature &&
        at + kEndOfCentralDirectorySize + le16(&tail[at + 20]) == tail.size()) {
      found = at;
      break;
    }
  }
  if (found == tail.size()) {
    fail(
        "not a PyTorch checkpoint (expected a zip archive written by torch.save, found no end-of-central-directory "
        "record)");
  }
  const unsigned char* end_record = &tail[found];
  const uint64_t end_record_offset = tail_offset + found;

  DirectoryLocation location;
  const uint16_t disk = le16(end_record + 4);
  const uint16_t directory_disk = le16(end_record + 6);
  const uint16_t entries_on_disk = le16(end_record + 8);
  location.entry_count = le16(end_record + 10);
  location.size = le32(end_record + 12);
  location.offset = le32(end_record + 16);
  location.end = end_record_offset;

  // torch.save always writes the zip64 structures; other writers only when a field overflows (0xFFFF...).
  bool has_zip64_locator = false;
  uint64_t zip64_record_offset = 0;
  if (end_record_offset >= kZip64LocatorSize) {
    unsigned char locator[kZip64LocatorSize];
    file_.read_exact(end_record_offset - kZip64LocatorSize, locator, sizeof locator);
    if (le32(locator) == kZip64LocatorSignature) {
      has_zip64_locator = true;
      const uint32_t zip64_disk = le32(locator + 4);
      zip64_record_offset = le64(locator + 8);
      const uint32_t total_disks = le32(locator + 16);
      if (zip64_disk != 0 || total_disks > 1) {
        fail("multi-part zip archives are not supported (zip64 locator names disk " + std::to_string(zip64_disk) +
             " of " + std::to_string(total_disks) + ")");
      }
    }
  }

  if (has_zip64_locator) {
    const uint64_t locator_offset = end_record_offset - kZip64LocatorSize;
    if (!fits(zip64_record_offset, kZip64EndOfCentralDirectorySize, locator_offset)) {
      fail("corrupt zip archive (zip64 end-of-central-directory record at byte " + std::to_string(zip64_record_offset) +
           " does not fit before its locator at byte " + std::to_string(locator_offset) + ")");
    }
    unsigned char record[kZip64EndOfCentralDirectorySize];
    file_.read_exact(zip64_record_offset, record, sizeof record);
    if (le32(record) != kZip64EndOfCentralDirectorySignature) {
      fail("corrupt zip archive (expected a zip64 end-of-central-directory record at byte " +
           std::to_string(zip64_record_offset) + ", found signature " + hex32(le32(record)) + ")");
    }
    const uint32_t disk64 = le32(record + 16);
    const uint32_t directory_disk64 = le32(record + 20);
    const uint64_t entries_on_disk64 = le64(record + 24);
    location.entry_count = le64(record + 32);
    location.size = le64(record + 40);
    location.offset = le64(record + 48);
    location.end = zip64_record_offset;
    if (disk64 != 0 || directory_disk64 != 0 || entries_on_disk64 != location.entry_count) {
      fail("multi-part zip archives are not supported");
    }
  } else {
    if (location.entry_count == 0xFFFF || location.size == 0xFFFFFFFFu || location.offset == 0xFFFFFFFFu) {
      fail(
          "corrupt zip archive (the end-of-central-directory record needs zip64 values, but there is no zip64 "
          "locator)");
    }
    if (disk != 0 || directory_disk != 0 || entries_on_disk != location.entry_count) {
      fail("multi-part zip archives are not supported");
    }
  }

  if (!fits(location.offset, location.size, location.end)) {
    fail("corrupt zip archive (central directory at byte " + std::to_string(location.offset) + ", " +
         std::to_string(location.size) + " bytes long, does not end before byte " + std::to_string(location.end) + ")");
  }
  // Every entry takes at least 46 bytes, which bounds the count (and what is reserved for it) by the file size.
  if (location.entry_count > location.size / kCentralHeaderSize) {
    fail("corrupt zip archive (central directory claims " + std::to_string(location.entry_count) + " records but its " +
         std::to_string(location.size) + " bytes hold at most " + std::to_string(location.size / kCentralHeaderSize) +
         ")");
  }
  return location;
}

void ZipArchive::read_central_directory(const DirectoryLocation& location) {
  central_directory_offset_ = location.offset;
  std::vector<unsigned char> directory(static_cast<size_t>(location.size));
  file_.read_exact(location.offset, directory.data(), directory.size());

  records_.reserve(static_cast<size_t>(location.entry_count));
  size_t at = 0;
  for (uint64_t index = 0; index < location.entry_count; ++index) {
    const std::string where = "central directory entry " + std::to_string(index);
    if (!fits(at, kCentralHeaderSize, directory.size())) {
      fail("corrupt zip archive (" + where + " runs past the end of the central directory)");
    }
    const unsigned char* header = &directory[at];
    if (le32(header) != kCentralHeaderSignature) {
      fail("corrupt zip archive (" + where + " has signature " + hex32(le32(header)) + ", expected " +
           hex32(kCentralHeaderSignature) + ")");
    }
    Record record;
    record.flags = le16(header + 8);
    record.method = le16(header + 10);
    record.crc32 = le32(header + 16);
    record.compressed_size = le32(header + 20);
    record.size = le32(header + 24);
    const size_t name_length = le16(header + 28);
    const size_t extra_length = le16(header + 30);
    const size_t comment_length = le16(header + 32);
    uint32_t start_disk = le16(header + 34);
    record.local_header_offset = le32(header + 42);
    const size_t variable_length = name_length + extra_length + comment_length;
    if (!fits(at + kCentralHeaderSize, variable_length, directory.size())) {
      fail("corrupt zip archive (" + where + " runs past the end of the central directory)");
    }
    const unsigned char* name = header + kCentralHeaderSize;
    record.name.assign(reinterpret_cast<const char*>(name), name_length);
    const unsigned char* extra = name + name_length;

    // A zip64 extra field holds the 64-bit values of exactly those fields that are saturated, in this order.
    size_t extra_at = 0;
    while (extra_at + 4 <= extra_length) {
      const uint16_t id = le16(extra + extra_at);
      const size_t length = le16(extra + extra_at + 2);
      if (extra_at + 4 + length > extra_length) {
        fail("corrupt zip archive (extra field of record '" + record.name + "' runs past its end)");
      }
      if (id == kZip64ExtraFieldId) {
        const unsigned char* field = extra + extra_at + 4;
        size_t used = 0;
        auto take64 = [&](uint64_t& value) {
          if (used + 8 > length) {
            fail("corrupt zip archive (zip64 extra field of record '" + record.name + "' is too short)");
          }
          value = le64(field + used);
          used += 8;
        };
        if (record.size == 0xFFFFFFFFu) take64(record.size);
        if (record.compressed_size == 0xFFFFFFFFu) take64(record.compressed_size);
        if (record.local_header_offset == 0xFFFFFFFFu) take64(record.local_header_offset);
        if (start_disk == 0xFFFF) {
          if (used + 4 > length) {
            fail("corrupt zip archive (zip64 extra field of record '" + record.name + "' is too short)");
          }
          start_disk = le32(field + used);
        }
      }
      extra_at += 4 + length;
    }
    if (start_disk != 0) {
      fail("multi-part zip archives are not supported (record '" + record.name + "' starts on disk " +
           std::to_string(start_disk) + ")");
    }
    if (!fits(record.local_header_offset, kLocalHeaderSize, central_directory_offset_)) {
      fail("corrupt zip archive (record '" + record.name + "' has its local header at byte " +
           std::to_string(record.local_header_offset) + ", past the start of the central directory at byte " +
           std::to_string(central_directory_offset_) + ")");
    }
    if (!index_by_name_.emplace(record.name, records_.size()).second) {
      fail("corrupt zip archive (record name '" + record.name + "' appears twice)");
    }
    records_.push_back(std::move(record));
    at += kCentralHeaderSize + variable_length;
  }
}

const ZipArchive::Record* ZipArchive::find(const std::string& name) const {
  const auto found = index_by_name_.find(name);
  return found == index_by_name_.end() ? nullptr : &records_[found->second];
}

uint64_t ZipArchive::data_offset(const Record& record) const {
  // The central directory's extra field differs from the local one (torch pads only the local one so that the data
  // is 64-byte aligned), so the data offset must come from the local header's own lengths.
  unsigned char header[kLocalHeaderSize];
  file_.read_exact(record.local_header_offset, header, sizeof header);
  if (le32(header) != kLocalHeaderSignature) {
    fail("corrupt zip archive (record '" + record.name + "': expected a local file header at byte " +
         std::to_string(record.local_header_offset) + ", found signature " + hex32(le32(header)) + ")");
  }
  const size_t name_length = le16(header + 26);
  const size_t extra_length = le16(header + 28);
  const uint64_t name_offset = record.local_header_offset + kLocalHeaderSize;
  if (name_length != record.name.size() || !fits(name_offset, name_length, central_directory_offset_)) {
    fail("corrupt zip archive (local header of record '" + record.name + "' disagrees with the central directory)");
  }
  std::string local_name(name_length, '\0');
  file_.read_exact(name_offset, local_name.data(), name_length);
  if (local_name != record.name) {
    fail("corrupt zip archive (local header of record '" + record.name + "' names '" + local_name + "')");
  }
  const uint64_t offset = name_offset + name_length + extra_length;
  if (!fits(offset, record.compressed_size, central_directory_offset_)) {
    fail("corrupt zip archive (data of record '" + record.name + "', " + std::to_string(record.compressed_size) +
         " bytes at byte " + std::to_string(offset) + ", runs into the central directory at byte " +
         std::to_string(central_directory_offset_) + ")");
  }
  return offset;
}

uint64_t ZipArchive::data_offset_of(const Record& record) const {
  if (record.flags & kEncryptedFlag) {
    fail("record '" + record.name + "' is encrypted; torch.save never encrypts records");
  }
  if (record.method != 0) {
    fail("record '" + record.name + "' is compressed (" + method_name(record.method) +
         "); only uncompressed (stored) records, as torch.save writes them, are supported");
  }
  if (record.compressed_size != record.size) {
    fail("corrupt zip archive (stored record '" + record.name + "' has size " + std::to_string(record.size) +
         " but compressed size " + std::to_string(record.compressed_size) + ")");
  }
  return data_offset(record);
}

void ZipArchive::read(const Record& record, void* destination, uint64_t destination_size, bool verify_checksum) const {
  if (destination_size != record.size) {
    fail("internal error: buffer of " + std::to_string(destination_size) + " bytes for record '" + record.name +
         "' of " + std::to_string(record.size) + " bytes");
  }
  uint64_t offset = data_offset_of(record);
  auto* out = static_cast<unsigned char*>(destination);
  uint64_t remaining = record.size;
  uint32_t crc = 0;
  while (remaining > 0) {
    const size_t chunk = static_cast<size_t>(std::min<uint64_t>(remaining, kCopyChunkSize));
    file_.read_exact(offset, out, chunk);
    if (verify_checksum) crc = crc32(out, chunk, crc);
    out += chunk;
    offset += chunk;
    remaining -= chunk;
  }
  if (verify_checksum && crc != record.crc32) {
    fail("record '" + record.name + "' is corrupt (CRC-32 " + hex32(crc) + ", expected " + hex32(record.crc32) + ")");
  }
}

std::string ZipArchive::read_to_string(const Record& record, bool verify_checksum) const {
  // The size is bounded: read() checks it lies inside the file before anything is copied, but the string is
  // allocated first, so check here as well.
  if (record.size > file_.size()) {
    fail("corrupt zip archive (record '" + record.name + "' claims " + std::to_string(record.size) +
         " bytes, more than the whole file)");
  }
  std::string bytes(static_cast<size_t>(record.size), '\0');
  read(record, bytes.data(), bytes.size(), verify_checksum);
  return bytes;
}

}  // namespace vitorch::checkpoint
