#include "nccl/nccl_backend.h"

#include <cstring>
#include <exception>
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>

extern "C" __attribute__((visibility("default"))) c10d::Backend* vitorch_make_nccl_backend(const void* store, int rank,
                                                                                           int size, int64_t timeout_ms,
                                                                                           char* error,
                                                                                           size_t error_size) {
  try {
    const auto& c10d_store = *static_cast<const c10::intrusive_ptr<c10d::Store>*>(store);
    auto options = c10d::ProcessGroupNCCL::Options::create();
    options->timeout = std::chrono::milliseconds(timeout_ms);
    auto backend = c10::make_intrusive<c10d::ProcessGroupNCCL>(c10d_store, rank, size, options);
    return backend.release();
  } catch (const c10::Error& failure) {
    std::snprintf(error, error_size, "%s", failure.what_without_backtrace());
  } catch (const std::exception& failure) {
    std::snprintf(error, error_size, "%s", failure.what());
  } catch (...) {
    std::snprintf(error, error_size, "unknown error");
  }
  return nullptr;
}
