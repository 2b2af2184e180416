// ZipWriter: local headers with precomputed CRC-32, 'FB' alignment padding, central directory, zip64 end records.
//
// Layout facts (all integers little-endian), from the PKWARE APPNOTE:
//   local file header: 30 bytes + name + extra, signature PK\3\4
//   central directory file header: 46 bytes + name + extra + comment, signature PK\1\2
//   zip64 extra field (id 0x0001): in a local header both sizes; in the central directory only the 64-bit values of
//     the fields that are saturated to 0xFFFFFFFF, in the order size, compressed size, local header offset
//   zip64 end-of-central-directory record (56 bytes, PK\6\6), its locator (20 bytes, PK\6\7), then the classic
//     end-of-central-directory record (22 bytes, PK\5\6) with saturated values where they overflow
#include "checkpoint/zip_writer.h"

#include "checkpoint/crc32.h"
#include "checkpoint/zip_format.h"
#include "common/errors.h"

namespace vitorch::checkpoint {

namespace {

using namespace zip_format;

constexpr uint64_t kExtraFieldHeaderSize = 4;  // id + length

constexpr uint16_t kPaddingExtraFieldId = 0x4246;  // "FB" as little-endian bytes, as torch.save writes it
constexpr char kPaddingByte = 'Z';                 // torch.save's filler; any byte would do

// Version 2.0 can extract stored records; 4.5 is needed once zip64 fields appear. "Made by" 4.5 on MS-DOS (host 0)
// says the external attributes carry no Unix permissions, so extractors use their defaults.
constexpr uint16_t kVersionStored = 20;
constexpr uint16_t kVersionZip64 = 45;
constexpr uint16_t kMethodStored = 0;
constexpr uint16_t kFlagUtf8Name = 0x0800;
// 1980-01-01 00:00, the earliest DOS timestamp: the output does not depend on the clock, so equal inputs give
// byte-identical files.
constexpr uint16_t kDosTime = 0;
constexpr uint16_t kDosDate = (0 << 9) | (1 << 5) | 1;

constexpr uint32_t kMax32 = 0xFFFFFFFFu;
constexpr uint16_t kMax16 = 0xFFFFu;

// Little-endian integer serialisation into a header being assembled.
class Bytes {
 public:
  Bytes& u16(uint16_t value) { return put(value, 2); }
  Bytes& u32(uint32_t value) { return put(value, 4); }
  Bytes& u64(uint64_t value) { return put(value, 8); }
  Bytes& text(const std::string& value) {
    data_ += value;
    return *this;
  }
  Bytes& fill(char byte, size_t count) {
    data_.append(count, byte);
    return *this;
  }
  const std::string& data() const { return data_; }
  size_t size() const { return data_.size(); }

 private:
  Bytes& put(uint64_t value, int count) {
    for (int i = 0; i < count; ++i) data_ += static_cast<char>((value >> (8 * i)) & 0xFF);
    return *this;
  }
  std::string data_;
};

uint32_t saturate32(uint64_t value) { return value >= kMax32 ? kMax32 : static_cast<uint32_t>(value); }
uint16_t saturate16(uint64_t value) { return value >= kMax16 ? kMax16 : static_cast<uint16_t>(value); }

// Zip names are CP437 unless flag bit 11 says UTF-8; ASCII names read the same either way.
uint16_t name_flags(const std::string& name) {
  for (const char c : name) {
    if (static_cast<unsigned char>(c) >= 0x80) return kFlagUtf8Name;
  }
  return 0;
}

}  // namespace

ZipWriter::ZipWriter(AtomicFileWriter& file) : file_(file) {
  if (file_.position() != 0) {
    throw CheckpointError(file_.target_path() + ": internal error: zip archive must start at offset 0");
  }
}

void ZipWriter::add_record(const std::string& name, const void* data, uint64_t size) {
  if (finished_) {
    throw CheckpointError(file_.target_path() + ": internal error: zip record added after the archive was finished");
  }
  if (name.size() > kMax16) {
    throw CheckpointError(file_.target_path() + ": internal error: zip record name too long");
  }
  Entry entry;
  entry.name = name;
  entry.size = size;
  entry.local_header_offset = file_.position();
  // One pass over the data before writing it: the local header comes first and holds the checksum.
  entry.crc32 = size == 0 ? 0 : crc32(data, static_cast<size_t>(size));

  const bool zip64 = size >= kMax32;
  const uint64_t zip64_field_size = zip64 ? kExtraFieldHeaderSize + 16 : 0;
  // The padding field is always present (as in torch.save), so the data starts after at least its 4-byte header.
  const uint64_t unpadded_end =
      entry.local_header_offset + kLocalHeaderSize + name.size() + zip64_field_size + kExtraFieldHeaderSize;
  const uint64_t padding = (kDataAlignment - unpadded_end % kDataAlignment) % kDataAlignment;
  const uint64_t extra_size = zip64_field_size + kExtraFieldHeaderSize + padding;

  Bytes header;
  header.u32(kLocalHeaderSignature)
      .u16(zip64 ? kVersionZip64 : kVersionStored)
      .u16(name_flags(name))
      .u16(kMethodStored)
      .u16(kDosTime)
      .u16(kDosDate)
      .u32(entry.crc32)
      .u32(saturate32(size))  // compressed size: stored, so the same
      .u32(saturate32(size))
      .u16(static_cast<uint16_t>(name.size()))
      .u16(static_cast<uint16_t>(extra_size))
      .text(name);
  if (zip64) {
    header.u16(kZip64ExtraFieldId).u16(16).u64(size).u64(size);
  }
  header.u16(kPaddingExtraFieldId).u16(static_cast<uint16_t>(padding)).fill(kPaddingByte, padding);
  file_.write(header.data());
  file_.write(data, static_cast<size_t>(size));
  entries_.push_back(std::move(entry));
}

void ZipWriter::finish() {
  if (finished_) return;
  finished_ = true;

  const uint64_t directory_offset = file_.position();
  for (const Entry& entry : entries_) {
    const bool size_overflows = entry.size >= kMax32;
    const bool offset_overflows = entry.local_header_offset >= kMax32;
    Bytes zip64_values;
    if (size_overflows) zip64_values.u64(entry.size).u64(entry.size);
    if (offset_overflows) zip64_values.u64(entry.local_header_offset);
    const bool zip64 = zip64_values.size() > 0;

    Bytes header;
    header.u32(kCentralHeaderSignature)
        .u16(kVersionZip64)  // version made by
        .u16(zip64 ? kVersionZip64 : kVersionStored)
        .u16(name_flags(entry.name))
        .u16(kMethodStored)
        .u16(kDosTime)
        .u16(kDosDate)
        .u32(entry.crc32)
        .u32(saturate32(entry.size))
        .u32(saturate32(entry.size))
        .u16(static_cast<uint16_t>(entry.name.size()))
        .u16(static_cast<uint16_t>(zip64 ? kExtraFieldHeaderSize + zip64_values.size() : 0))
        .u16(0)  // comment length
        .u16(0)  // disk number
        .u16(0)  // internal attributes
        .u32(0)  // external attributes
        .u32(saturate32(entry.local_header_offset))
        .text(entry.name);
    if (zip64) {
      header.u16(kZip64ExtraFieldId).u16(static_cast<uint16_t>(zip64_values.size())).text(zip64_values.data());
    }
    file_.write(header.data());
  }
  const uint64_t directory_size = file_.position() - directory_offset;
  const uint64_t count = entries_.size();

  const uint64_t zip64_end_offset = file_.position();
  Bytes end;
  end.u32(kZip64EndOfCentralDirectorySignature)
      .u64(kZip64EndOfCentralDirectorySize - 12)  // size of the rest of this record
      .u16(kVersionZip64)
      .u16(kVersionZip64)
      .u32(0)  // this disk
      .u32(0)  // disk holding the central directory
      .u64(count)
      .u64(count)
      .u64(directory_size)
      .u64(directory_offset);
  end.u32(kZip64LocatorSignature)
      .u32(0)  // disk holding the zip64 end record
      .u64(zip64_end_offset)
      .u32(1);  // total disks
  end.u32(kEndOfCentralDirectorySignature)
      .u16(0)
      .u16(0)
      .u16(saturate16(count))
      .u16(saturate16(count))
      .u32(saturate32(directory_size))
      .u32(saturate32(directory_offset))
      .u16(0);  // comment length
  file_.write(end.data());
}

}  // namespace vitorch::checkpoint
