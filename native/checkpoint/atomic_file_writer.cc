// POSIX implementation of AtomicFileWriter: open(O_EXCL) a temporary file beside the target, write(2) with every
// result checked, fsync, rename(2) over the target, fsync the folder.
#include "checkpoint/atomic_file_writer.h"

#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "common/errors.h"

namespace vitorch::checkpoint {

namespace {

// Headers and small records are gathered up to this size before a write(2); tensors bypass the buffer.
constexpr size_t kBufferSize = size_t{64} << 10;
// Linux writes at most about 2 GiB per call; ask for at most 1 GiB so each call can complete.
constexpr size_t kMaxWriteSize = size_t{1} << 30;
// Keeps ".<name>.tmp-<pid>-<n>" within the 255-byte file name limit however long the target's name is.
constexpr size_t kMaxNameInTemporary = 128;
constexpr int kMaxCreateAttempts = 1000;

// Distinguishes temporary files of concurrent writes from one process (the pid tells processes apart).
std::atomic<uint64_t> temporary_counter{0};

std::string os_reason(int error_number) { return std::system_category().message(error_number); }

}  // namespace

AtomicFileWriter::AtomicFileWriter(const std::string& target_path) : target_path_(target_path) {
  if (target_path.empty()) {
    throw CheckpointError("cannot write checkpoint: the path is empty");
  }
  final_path_ = target_path;
  // Replacing a symlink with a regular file would silently detach it from what it pointed to; write the file it
  // points to instead. A dangling link cannot be resolved and is replaced.
  struct stat link_status{};
  if (::lstat(target_path.c_str(), &link_status) == 0 && S_ISLNK(link_status.st_mode)) {
    if (char* resolved = ::realpath(target_path.c_str(), nullptr)) {
      final_path_ = resolved;
      ::free(resolved);
    }
  }

  const std::filesystem::path final_path(final_path_);
  const std::string name = final_path.filename().string();
  if (name.empty() || name == "." || name == "..") {
    throw CheckpointError(target_path_ + ": cannot write checkpoint: the path names a folder, not a file");
  }
  folder_ = final_path.parent_path().string();
  if (folder_.empty()) folder_ = ".";

  bool target_exists = false;
  struct stat target_status{};
  if (::stat(final_path_.c_str(), &target_status) == 0) {
    target_exists = true;
    if (S_ISDIR(target_status.st_mode)) {
      throw CheckpointError(target_path_ + ": cannot write checkpoint: it is a folder");
    }
    // Renaming over a device or a FIFO would replace the node itself (e.g. /dev/null), never what is meant.
    if (!S_ISREG(target_status.st_mode)) {
      throw CheckpointError(target_path_ + ": cannot write checkpoint: it exists and is not a regular file");
    }
    // rename(2) only needs the folder to be writable; honour the file's own permission as open(2) would.
    if (::faccessat(AT_FDCWD, final_path_.c_str(), W_OK, AT_EACCESS) != 0) {
      fail("the existing file is not writable", errno);
    }
  } else if (errno != ENOENT) {
    fail("cannot inspect the path", errno);
  }

  const std::string stem = "." + name.substr(0, kMaxNameInTemporary) + ".tmp-" + std::to_string(::getpid()) + "-";
  for (int attempt = 0; descriptor_ < 0; ++attempt) {
    const std::string candidate =
        (std::filesystem::path(folder_) / (stem + std::to_string(temporary_counter++))).string();
    descriptor_ = ::open(candidate.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (descriptor_ >= 0) {
      temporary_path_ = candidate;
    } else if (errno == EINTR || (errno == EEXIST && attempt < kMaxCreateAttempts)) {
      continue;  // a leftover from an earlier process with the same pid, or an interrupted call
    } else {
      fail("cannot create a temporary file in folder '" + folder_ + "'", errno);
    }
  }
  // The new file takes the old one's permissions (a 0600 checkpoint must not become world-readable by being
  // rewritten); a new file gets the usual 0666 & ~umask.
  if (target_exists && ::fchmod(descriptor_, target_status.st_mode & 07777) != 0) {
    fail("cannot set the permissions of the temporary file", errno);
  }
  buffer_.reserve(kBufferSize);
}

AtomicFileWriter::~AtomicFileWriter() { discard(); }

void AtomicFileWriter::write(const void* data, size_t size) {
  if (size == 0) return;
  if (descriptor_ < 0) {
    throw CheckpointError(target_path_ + ": internal error: write after commit or failure");
  }
  const auto* bytes = static_cast<const unsigned char*>(data);
  if (buffer_.size() + size <= kBufferSize) {
    buffer_.insert(buffer_.end(), bytes, bytes + size);
  } else {
    flush_buffer();
    if (size < kBufferSize) {
      buffer_.insert(buffer_.end(), bytes, bytes + size);
    } else {
      write_to_descriptor(bytes, size);
    }
  }
  position_ += size;
}

void AtomicFileWriter::flush_buffer() {
  if (buffer_.empty()) return;
  write_to_descriptor(buffer_.data(), buffer_.size());
  buffer_.clear();
}

void AtomicFileWriter::write_to_descriptor(const unsigned char* data, size_t size) {
  while (size > 0) {
    const ssize_t written = ::write(descriptor_, data, size < kMaxWriteSize ? size : kMaxWriteSize);
    if (written < 0) {
      if (errno == EINTR) continue;
      fail("write error", errno);
    }
    // A short count is not an error by itself (the next call reports ENOSPC if the disk is full); zero for a
    // non-empty request would loop forever, so treat it as the disk being full.
    if (written == 0) fail("write error", ENOSPC);
    data += written;
    size -= static_cast<size_t>(written);
  }
}

void AtomicFileWriter::commit() {
  if (descriptor_ < 0) {
    throw CheckpointError(target_path_ + ": internal error: commit after commit or failure");
  }
  flush_buffer();
  // Without this the rename could reach the disk before the data, and a power loss would leave an empty or
  // partial file under the target's name: exactly what the temporary file is for.
  while (::fsync(descriptor_) != 0) {
    if (errno != EINTR) fail("flushing the file to disk failed", errno);
  }
  const int descriptor = descriptor_;
  descriptor_ = -1;
  // close can report a deferred write error (e.g. on NFS); the data is not known to be written until it succeeds.
  if (::close(descriptor) != 0 && errno != EINTR) {
    fail("closing the file failed", errno);
  }
  if (::rename(temporary_path_.c_str(), final_path_.c_str()) != 0) {
    fail("cannot move the finished file into place", errno);
  }
  temporary_path_.clear();

  // Makes the rename itself durable. The new file is already in place, so a failure here is not reported: an
  // error would wrongly tell the caller that the old file is still there. Some file systems refuse fsync on a
  // folder (EINVAL), which is harmless for the same reason.
  const int folder = ::open(folder_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (folder >= 0) {
    while (::fsync(folder) != 0 && errno == EINTR) {
    }
    ::close(folder);
  }
}

void AtomicFileWriter::fail(const std::string& what, int error_number) {
  discard();
  throw CheckpointError(target_path_ + ": cannot write checkpoint: " + what + " (" + os_reason(error_number) + ")");
}

void AtomicFileWriter::discard() noexcept {
  if (descriptor_ >= 0) {
    ::close(descriptor_);
    descriptor_ = -1;
  }
  if (!temporary_path_.empty()) {
    ::unlink(temporary_path_.c_str());
    temporary_path_.clear();
  }
  buffer_.clear();
}

}  // namespace vitorch::checkpoint
