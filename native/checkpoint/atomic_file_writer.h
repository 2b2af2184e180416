// Writing a file so that it either appears complete or not at all.
//
// A checkpoint is hundreds of megabytes written over seconds; a full disk, a crash or a kill in the middle must not
// leave a truncated file where a good one was (overwriting the checkpoint being trained is the common case). So
// the bytes go to a temporary file in the target's own folder (a rename is only atomic within one file system),
// which is flushed to disk and then renamed over the target. Until commit() the target is never touched; if the
// writer is destroyed before commit(), or any step fails, the temporary file is removed.
//
// Every failure is a vitorch::CheckpointError starting with the target path and giving the OS reason.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace vitorch::checkpoint {

class AtomicFileWriter {
 public:
  // Creates the temporary file next to `target_path` (following a symlink, so the file it points to is the one
  // replaced, as writing through the link would). Refuses a target that is a folder or not a regular file, or
  // that exists and is not writable by this process (so a read-only file stays protected as with a plain write).
  explicit AtomicFileWriter(const std::string& target_path);
  ~AtomicFileWriter();

  AtomicFileWriter(const AtomicFileWriter&) = delete;
  AtomicFileWriter& operator=(const AtomicFileWriter&) = delete;

  // Appends bytes. Small writes are gathered in a buffer; large ones go straight to the file, so writing a tensor
  // costs no copy. Throws (and removes the temporary file) if the OS reports an error such as a full disk.
  void write(const void* data, size_t size);
  void write(const std::string& bytes) { write(bytes.data(), bytes.size()); }

  // Bytes written so far, i.e. the offset the next byte will have in the file.
  uint64_t position() const { return position_; }

  // Flushes the file to disk, renames it over the target and flushes the folder entry. After a failure here the
  // target is still the old file (or absent).
  void commit();

  const std::string& target_path() const { return target_path_; }

 private:
  void flush_buffer();
  void write_to_descriptor(const unsigned char* data, size_t size);
  // Removes the temporary file and throws CheckpointError("<target>: cannot write checkpoint: <what>: <reason>").
  [[noreturn]] void fail(const std::string& what, int error_number);
  // Closes and deletes the temporary file; never throws.
  void discard() noexcept;

  std::string target_path_;     // as the caller gave it, for messages
  std::string final_path_;      // what is replaced: target_path_ with a symlink resolved
  std::string folder_;          // final_path_'s folder, which holds the temporary file and is flushed after rename
  std::string temporary_path_;  // empty once it is gone (renamed or deleted)
  int descriptor_ = -1;
  std::vector<unsigned char> buffer_;
  uint64_t position_ = 0;
};

}  // namespace vitorch::checkpoint
