// The entry point of libvitorch_nccl.so, the NCCL backend's plugin. It is a library of its own because
// ProcessGroupNCCL lives in libtorch_cuda, which a CPU-only libtorch does not have: the addon (which links no CUDA
// library) dlopen()s the plugin only when a process group asks for 'nccl' (distributed/process_group.cc), and a
// build without the CUDA and NCCL headers simply has no plugin (CMakeLists.txt says when it is built).
#pragma once

#include <cstddef>
#include <cstdint>

namespace c10d {
class Backend;
class Store;
}  // namespace c10d

extern "C" {

// A ProcessGroupNCCL over `store` (an intrusive_ptr<c10d::Store>*), with the collective timeout given. Returns the
// backend with one reference the caller takes over (intrusive_ptr::reclaim), or nullptr with the reason written to
// `error` (at most error_size bytes, NUL-terminated). Never throws.
using VitorchMakeNcclBackend = c10d::Backend* (*)(const void* store, int rank, int size, int64_t timeout_ms,
                                                  char* error, size_t error_size);
}

#define VITORCH_MAKE_NCCL_BACKEND_SYMBOL "vitorch_make_nccl_backend"
