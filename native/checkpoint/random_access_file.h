// A read-only file opened once and read at explicit offsets (pread), used by the checkpoint readers.
//
// Reading at an offset straight into the caller's buffer lets a multi-hundred-megabyte record land in the tensor
// that will hold it, with no intermediate copy. Every failure is a vitorch::CheckpointError that starts with the
// path, so callers never have to add it themselves.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace vitorch::checkpoint {

class RandomAccessFile {
 public:
  // Opens `path` for reading. Throws CheckpointError naming the path and the OS reason (missing, permission
  // denied, ...) or saying that it is a directory / not a regular file.
  explicit RandomAccessFile(const std::string& path);
  ~RandomAccessFile();

  RandomAccessFile(const RandomAccessFile&) = delete;
  RandomAccessFile& operator=(const RandomAccessFile&) = delete;

  const std::string& path() const { return path_; }

  // Size when the file was opened; every offset read later is checked against it.
  uint64_t size() const { return size_; }

  // Reads exactly `length` bytes starting at `offset` into `destination`. Throws CheckpointError if the range lies
  // outside the file or the OS reports an error / an early end (the file shrank while being read).
  void read_exact(uint64_t offset, void* destination, size_t length) const;

  // Throws CheckpointError("<path>: <message>").
  [[noreturn]] void fail(const std::string& message) const;

 private:
  std::string path_;
  int descriptor_ = -1;
  uint64_t size_ = 0;
};

}  // namespace vitorch::checkpoint
