// The two pickle inputs (see pickle_input.h).
#include "checkpoint/pickle_input.h"

#include <algorithm>

namespace vitorch::checkpoint {

namespace {

// How much the file input reads ahead: a state dict's pickle is tens of kilobytes, so usually one read.
constexpr uint64_t kReadAhead = uint64_t{64} << 10;

}  // namespace

const unsigned char* MemoryPickleInput::take(uint64_t count) {
  if (count > remaining()) return nullptr;
  const auto* start = reinterpret_cast<const unsigned char*>(bytes_.data() + position_);
  position_ += static_cast<size_t>(count);
  return start;
}

FilePickleInput::FilePickleInput(const RandomAccessFile& file, uint64_t start)
    : file_(file), position_(std::min(start, file.size())) {}

const unsigned char* FilePickleInput::take(uint64_t count) {
  if (count > remaining()) return nullptr;
  const uint64_t buffered_end = buffer_start_ + buffer_.size();
  if (position_ < buffer_start_ || position_ + count > buffered_end) {
    // Refill from position_: at least `count` bytes, which lie within the file (checked above), so a length field
    // from the file can never make this allocate more than the file holds.
    const uint64_t length = std::min(std::max(count, kReadAhead), remaining());
    buffer_.resize(static_cast<size_t>(length));
    buffer_start_ = position_;
    file_.read_exact(position_, buffer_.data(), buffer_.size());
  }
  const auto* start = reinterpret_cast<const unsigned char*>(buffer_.data() + (position_ - buffer_start_));
  position_ += count;
  return start;
}

}  // namespace vitorch::checkpoint
