// Where the unpickler reads a pickle's bytes from.
//
// A zip checkpoint's data.pkl is a record of known size, read into memory whole. The legacy torch.save format is
// several pickles back to back with nothing saying how long each is: the end of one is only known once its STOP
// opcode has been read, and the raw storage bytes (hundreds of megabytes) follow the last one. So the unpickler
// pulls bytes through this interface, and the legacy reader hands it a window onto the file that reads ahead a
// little at a time instead of loading the whole file.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "checkpoint/random_access_file.h"

namespace vitorch::checkpoint {

class PickleInput {
 public:
  virtual ~PickleInput() = default;

  // The next `count` bytes, valid until the next call; or nullptr, consuming nothing, if fewer than `count` bytes
  // are left. Never allocates more than the input holds.
  virtual const unsigned char* take(uint64_t count) = 0;

  // Bytes left before the end of the input.
  virtual uint64_t remaining() const = 0;

  // Offset of the next byte, for messages: from the start of the buffer, or of the file.
  virtual uint64_t position() const = 0;
};

// A pickle held in memory; `bytes` must outlive the input.
class MemoryPickleInput final : public PickleInput {
 public:
  explicit MemoryPickleInput(std::string_view bytes) : bytes_(bytes) {}

  const unsigned char* take(uint64_t count) override;
  uint64_t remaining() const override { return bytes_.size() - position_; }
  uint64_t position() const override { return position_; }

 private:
  std::string_view bytes_;
  size_t position_ = 0;
};

// The file from `start` to its end, read through a small buffer. Successive pickles can be read from one input:
// each unpickle() stops right after its STOP opcode, so position() is then where the next one starts.
class FilePickleInput final : public PickleInput {
 public:
  FilePickleInput(const RandomAccessFile& file, uint64_t start);

  const unsigned char* take(uint64_t count) override;
  uint64_t remaining() const override { return file_.size() - position_; }
  uint64_t position() const override { return position_; }

 private:
  const RandomAccessFile& file_;
  uint64_t position_;
  std::string buffer_;  // a copy of the file's bytes [buffer_start_, buffer_start_ + buffer_.size())
  uint64_t buffer_start_ = 0;
};

}  // namespace vitorch::checkpoint
