// Shared reader checks (see storage_checks.h).
#include "checkpoint/storage_checks.h"

#include <cstdint>
#include <cstring>

namespace vitorch::checkpoint {

bool is_known_location(const std::string& location) {
  if (location == "cpu" || location == "cuda" || location == "mps") return true;
  const std::string cuda = "cuda:";
  if (location.rfind(cuda, 0) != 0 || location.size() == cuda.size() || location.size() > cuda.size() + 4) {
    return false;
  }
  for (size_t i = cuda.size(); i < location.size(); ++i) {
    if (location[i] < '0' || location[i] > '9') return false;
  }
  return true;
}

void check_bool_bytes(const RandomAccessFile& file, const std::string& what, const torch::Tensor& storage) {
  const auto* bytes = static_cast<const unsigned char*>(storage.data_ptr());
  const int64_t count = storage.numel();
  for (int64_t i = 0; i < count; ++i) {
    if (bytes[i] > 1) {
      file.fail(what + " is corrupt (bool element " + std::to_string(i) + " has byte value " +
                std::to_string(bytes[i]) + ")");
    }
  }
}

bool host_is_little_endian() {
  const uint16_t probe = 1;
  unsigned char first = 0;
  std::memcpy(&first, &probe, 1);
  return first == 1;
}

}  // namespace vitorch::checkpoint
