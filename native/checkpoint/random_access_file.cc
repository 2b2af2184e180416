// POSIX implementation of RandomAccessFile: open + fstat once, then pread for every read.
//
// pread is used rather than a stream because it needs no shared file position and reads large ranges straight
// into the destination buffer without passing through a stream buffer.
#include "checkpoint/random_access_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/errors.h"

namespace vitorch::checkpoint {

namespace {

std::string os_reason(int error_number) { return std::strerror(error_number); }

}  // namespace

RandomAccessFile::RandomAccessFile(const std::string& path) : path_(path) {
  if (path.empty()) {
    throw CheckpointError("checkpoint path is empty");
  }
  // O_NONBLOCK so that opening a FIFO fails the regular-file check below instead of waiting for a writer; it has
  // no effect on reading a regular file.
  do {
    descriptor_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  } while (descriptor_ < 0 && errno == EINTR);
  if (descriptor_ < 0) {
    fail("cannot open file (" + os_reason(errno) + ")");
  }
  struct stat status{};
  if (::fstat(descriptor_, &status) != 0) {
    const int error_number = errno;
    ::close(descriptor_);
    descriptor_ = -1;
    fail("cannot read file status (" + os_reason(error_number) + ")");
  }
  // open() succeeds on a directory; reading it would fail later with a vaguer message.
  if (S_ISDIR(status.st_mode)) {
    ::close(descriptor_);
    descriptor_ = -1;
    fail("is a directory, not a checkpoint file");
  }
  if (!S_ISREG(status.st_mode)) {
    ::close(descriptor_);
    descriptor_ = -1;
    fail("is not a regular file (a checkpoint must be a file on disk)");
  }
  size_ = static_cast<uint64_t>(status.st_size);
}

RandomAccessFile::~RandomAccessFile() {
  if (descriptor_ >= 0) {
    ::close(descriptor_);
  }
}

void RandomAccessFile::fail(const std::string& message) const { throw CheckpointError(path_ + ": " + message); }

void RandomAccessFile::read_exact(uint64_t offset, void* destination, size_t length) const {
  if (offset > size_ || length > size_ - offset) {
    fail("truncated file (needed bytes " + std::to_string(offset) + " to " +
         std::to_string(offset + static_cast<uint64_t>(length)) + ", but the file has " + std::to_string(size_) +
         " bytes)");
  }
  auto* out = static_cast<unsigned char*>(destination);
  while (length > 0) {
    // Some kernels cap a single read at about 2 GiB; ask for at most 1 GiB at a time.
    const size_t request = length < (size_t{1} << 30) ? length : (size_t{1} << 30);
    const ssize_t got = ::pread(descriptor_, out, request, static_cast<off_t>(offset));
    if (got < 0) {
      if (errno == EINTR) continue;
      fail("read error at byte " + std::to_string(offset) + " (" + os_reason(errno) + ")");
    }
    if (got == 0) {
      fail("unexpected end of file at byte " + std::to_string(offset) + " (was the file changed while loading?)");
    }
    out += got;
    offset += static_cast<uint64_t>(got);
    length -= static_cast<size_t>(got);
  }
}

}  // namespace vitorch::checkpoint
