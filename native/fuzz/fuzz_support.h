// Shared by the fuzz targets: the input as a file the checkpoint readers can open (they read files, by path).
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

namespace vitorch::fuzz {

// One in-memory file (memfd), rewritten with each input; its path is /proc/self/fd/<n>.
inline const std::string& input_as_file(const uint8_t* data, size_t size) {
  static const int descriptor = ::memfd_create("vitorch-fuzz-input", MFD_CLOEXEC);
  static const std::string path = "/proc/self/fd/" + std::to_string(descriptor);
  if (descriptor < 0 || ::ftruncate(descriptor, 0) != 0) std::abort();
  for (size_t done = 0; done < size;) {
    const ssize_t written = ::pwrite(descriptor, data + done, size - done, static_cast<off_t>(done));
    if (written <= 0) std::abort();
    done += static_cast<size_t>(written);
  }
  return path;
}

}  // namespace vitorch::fuzz
