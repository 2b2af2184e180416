// libtorch's CPU allocator hands each large tensor to malloc, which serves it with fresh mmap'd pages and returns
// them to the kernel on free; a ViT-B forward then spends a fifth of its time in page faults zeroing memory it had a
// moment ago. This allocator keeps freed large blocks and gives them back for requests of the same rounded size, so
// a steady stream of same-shaped forwards touches no new pages. Small blocks go straight to the previous allocator.
#pragma once

#include <c10/core/Allocator.h>
#include <torch/version.h>

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <unordered_map>
#include <vector>

namespace vitorch::runtime {

// Allocator::allocate lost its const (and copy_data appeared) in libtorch 2.3.
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 3)
#define VITORCH_ALLOCATE_QUALIFIER
#define VITORCH_ALLOCATOR_HAS_COPY_DATA 1
#else
#define VITORCH_ALLOCATE_QUALIFIER const
#define VITORCH_ALLOCATOR_HAS_COPY_DATA 0
#endif

struct CachedMemoryStats {
  size_t cached_bytes = 0;         // idle blocks kept for reuse
  size_t in_use_bytes = 0;         // blocks of this allocator held by live tensors
  size_t limit_bytes = 0;          // cached_bytes never exceeds this
  uint64_t reuses = 0;             // large requests served from the cache
  uint64_t fresh_allocations = 0;  // large requests that needed new memory
};

class CachingCpuAllocator final : public c10::Allocator {
 public:
  // Blocks below this go to the previous allocator: malloc serves them from its heap without page faults.
  static constexpr size_t kMinCachedBytes = size_t{256} << 10;
  // Large sizes are rounded up to this, so shapes that differ by a little share blocks.
  static constexpr size_t kRounding = size_t{64} << 10;
  static constexpr size_t kAlignment = 64;  // as c10's own CPU allocator

  explicit CachingCpuAllocator(c10::Allocator* previous, size_t limit_bytes);

  c10::DataPtr allocate(size_t bytes) VITORCH_ALLOCATE_QUALIFIER override;
  // oneDNN allocates through raw_allocate / raw_deallocate, which need one deleter for every block.
  c10::DeleterFnPtr raw_deleter() const override { return &CachingCpuAllocator::delete_block; }
#if VITORCH_ALLOCATOR_HAS_COPY_DATA
  void copy_data(void* destination, const void* source, size_t count) const override;
#endif

  // Frees every idle block (live tensors keep theirs).
  void release_cached();
  // A limit of 0 turns caching off and frees what is cached.
  void set_limit(size_t limit_bytes);
  CachedMemoryStats stats() const;

 private:
  static void delete_block(void* block);
  // Returns false for blocks that are not this allocator's own (the small ones the previous allocator made).
  bool give_back(void* block);
  // Frees idle blocks until at most `limit_bytes` stay cached. Requires mutex_.
  void trim_to(size_t limit_bytes);

  c10::Allocator* previous_;
  mutable std::mutex mutex_;
  std::unordered_map<size_t, std::vector<void*>> idle_by_size_;
  std::unordered_map<void*, size_t> live_sizes_;
  CachedMemoryStats stats_;
};

// Installs the allocator as libtorch's CPU allocator once per process (later calls return the same one). The limit
// comes from VITORCH_CPU_CACHE_BYTES when set, else default_limit_bytes.
CachingCpuAllocator& install_caching_cpu_allocator(size_t default_limit_bytes);

}  // namespace vitorch::runtime
