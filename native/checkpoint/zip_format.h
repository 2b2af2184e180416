// The numbers of the zip format (PKWARE APPNOTE) that the reader (zip_archive.cc) uses. (.pth files are written by
// libtorch's own writer, see checkpoint_writer.cc.)
#pragma once

#include <cstdint>

namespace vitorch::checkpoint::zip_format {

constexpr uint32_t kLocalHeaderSignature = 0x04034b50;
constexpr uint32_t kCentralHeaderSignature = 0x02014b50;
constexpr uint32_t kZip64EndOfCentralDirectorySignature = 0x06064b50;
constexpr uint32_t kZip64LocatorSignature = 0x07064b50;
constexpr uint32_t kEndOfCentralDirectorySignature = 0x06054b50;

constexpr uint64_t kLocalHeaderSize = 30;
constexpr uint64_t kCentralHeaderSize = 46;
constexpr uint64_t kEndOfCentralDirectorySize = 22;
constexpr uint64_t kZip64LocatorSize = 20;
constexpr uint64_t kZip64EndOfCentralDirectorySize = 56;

constexpr uint16_t kZip64ExtraFieldId = 0x0001;

}  // namespace vitorch::checkpoint::zip_format
