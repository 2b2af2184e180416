#include "runtime/caching_cpu_allocator.h"

#include <c10/core/CPUAllocator.h>
#include <c10/util/Exception.h>

#include <cstdlib>
#include <cstring>
#include <string>

namespace vitorch::runtime {
namespace {

CachingCpuAllocator* installed = nullptr;

size_t round_up(size_t bytes) {
  const auto unit = CachingCpuAllocator::kRounding;
  return (bytes + unit - 1) / unit * unit;
}

size_t limit_from_environment(size_t fallback) {
  const char* text = std::getenv("VITORCH_CPU_CACHE_BYTES");
  if (text == nullptr || *text == '\0') return fallback;
  char* end = nullptr;
  const auto value = std::strtoull(text, &end, 10);
  return (end != nullptr && *end == '\0') ? static_cast<size_t>(value) : fallback;
}

}  // namespace

CachingCpuAllocator::CachingCpuAllocator(c10::Allocator* previous, size_t limit_bytes) : previous_(previous) {
  stats_.limit_bytes = limit_bytes;
}

c10::DataPtr CachingCpuAllocator::allocate(size_t bytes) VITORCH_ALLOCATE_QUALIFIER {
  if (bytes < kMinCachedBytes) return previous_->allocate(bytes);
  auto* self = const_cast<CachingCpuAllocator*>(this);  // pre-2.3 libtorch declares allocate const
  const auto size = round_up(bytes);
  void* block = nullptr;
  {
    std::lock_guard<std::mutex> lock(self->mutex_);
    auto idle = self->idle_by_size_.find(size);
    if (idle != self->idle_by_size_.end() && !idle->second.empty()) {
      block = idle->second.back();  // the most recently freed block is the likeliest to still be in cache
      idle->second.pop_back();
      self->stats_.cached_bytes -= size;
      ++self->stats_.reuses;
    } else {
      ++self->stats_.fresh_allocations;
    }
  }
  if (block == nullptr) {
    block = std::aligned_alloc(kAlignment, size);
    if (block == nullptr) {
      self->release_cached();
      block = std::aligned_alloc(kAlignment, size);
    }
    TORCH_CHECK_WITH(OutOfMemoryError, block != nullptr, "could not allocate ", bytes, " bytes of CPU memory");
  }
  {
    std::lock_guard<std::mutex> lock(self->mutex_);
    self->live_sizes_.emplace(block, size);
    self->stats_.in_use_bytes += size;
  }
  return {block, block, &CachingCpuAllocator::delete_block, c10::Device(c10::DeviceType::CPU)};
}

#if VITORCH_ALLOCATOR_HAS_COPY_DATA
void CachingCpuAllocator::copy_data(void* destination, const void* source, size_t count) const {
  default_copy_data(destination, source, count);
}
#endif

void CachingCpuAllocator::delete_block(void* block) {
  if (!installed->give_back(block)) installed->previous_->raw_deleter()(block);
}

bool CachingCpuAllocator::give_back(void* block) {
  std::lock_guard<std::mutex> lock(mutex_);
  const auto live = live_sizes_.find(block);
  if (live == live_sizes_.end()) return false;
  const auto size = live->second;
  live_sizes_.erase(live);
  stats_.in_use_bytes -= size;
  if (size > stats_.limit_bytes) {
    std::free(block);
    return true;
  }
  // Room is made by dropping blocks of other sizes first: the sizes freed most recently are the ones in use.
  trim_to(stats_.limit_bytes - size);
  idle_by_size_[size].push_back(block);
  stats_.cached_bytes += size;
  return true;
}

void CachingCpuAllocator::trim_to(size_t limit_bytes) {
  for (auto entry = idle_by_size_.begin(); entry != idle_by_size_.end() && stats_.cached_bytes > limit_bytes;) {
    auto& blocks = entry->second;
    while (!blocks.empty() && stats_.cached_bytes > limit_bytes) {
      std::free(blocks.back());
      blocks.pop_back();
      stats_.cached_bytes -= entry->first;
    }
    entry = blocks.empty() ? idle_by_size_.erase(entry) : std::next(entry);
  }
}

void CachingCpuAllocator::release_cached() {
  std::lock_guard<std::mutex> lock(mutex_);
  trim_to(0);
}

void CachingCpuAllocator::set_limit(size_t limit_bytes) {
  std::lock_guard<std::mutex> lock(mutex_);
  stats_.limit_bytes = limit_bytes;
  trim_to(limit_bytes);
}

CachedMemoryStats CachingCpuAllocator::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return stats_;
}

CachingCpuAllocator& install_caching_cpu_allocator(size_t default_limit_bytes) {
  static std::once_flag once;
  std::call_once(once, [&] {
    // Never destroyed: tensors may outlive every static object and still need a working deleter at exit.
    auto* previous = c10::GetCPUAllocator();
    installed = new CachingCpuAllocator(previous, limit_from_environment(default_limit_bytes));
    // Blocks from raw_allocate are freed by one function for all; without the previous allocator's raw deleter
    // its small blocks could not be returned to it, so libtorch keeps its own allocator.
    if (previous->raw_deleter() != nullptr) c10::SetCPUAllocator(installed, /*priority=*/UINT8_MAX);
  });
  return *installed;
}

}  // namespace vitorch::runtime
