// Process-wide settings and facts: libtorch's intra-op thread count, the CPU memory cache, CUDA availability,
// versions.
#include <ATen/Parallel.h>
#include <torch/version.h>

#include "binding/exports.h"
#include "binding/js_errors.h"
#include "common/device.h"
#include "common/errors.h"
#include "runtime/caching_cpu_allocator.h"
#include "runtime/compute_thread.h"

namespace vitorch::binding {
namespace {

Napi::Value SetNumThreads(const Napi::CallbackInfo& info) {
  return with_js_errors(info.Env(), [&]() -> Napi::Value {
    if (info.Length() < 1 || !info[0].IsNumber()) throw InvalidType("expected a number of threads");
    const double count = info[0].As<Napi::Number>().DoubleValue();
    if (count < 1 || count > 1024 || count != static_cast<int>(count)) {
      throw InvalidValue("expected an integer number of threads in [1, 1024], received " + std::to_string(count));
    }
    runtime::set_intra_op_threads(static_cast<int>(count));
    return info.Env().Undefined();
  });
}

Napi::Value StopComputeThread(const Napi::CallbackInfo& info) {
  runtime::stop_compute_thread();
  return info.Env().Undefined();
}

Napi::Value GetNumThreads(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), runtime::intra_op_threads());
}

// 1 GiB holds every intermediate result of a ViT-B/16 forward at batch 32 with room to spare.
constexpr size_t kDefaultCpuCacheBytes = size_t{1} << 30;

runtime::CachingCpuAllocator& cpu_cache() { return runtime::install_caching_cpu_allocator(kDefaultCpuCacheBytes); }

Napi::Value CpuCacheStats(const Napi::CallbackInfo& info) {
  const auto stats = cpu_cache().stats();
  auto result = Napi::Object::New(info.Env());
  result.Set("cachedBytes", static_cast<double>(stats.cached_bytes));
  result.Set("inUseBytes", static_cast<double>(stats.in_use_bytes));
  result.Set("limitBytes", static_cast<double>(stats.limit_bytes));
  result.Set("reuses", static_cast<double>(stats.reuses));
  result.Set("freshAllocations", static_cast<double>(stats.fresh_allocations));
  return result;
}

Napi::Value SetCpuCacheLimit(const Napi::CallbackInfo& info) {
  return with_js_errors(info.Env(), [&]() -> Napi::Value {
    if (info.Length() < 1 || !info[0].IsNumber()) throw InvalidType("expected a number of bytes");
    const double bytes = info[0].As<Napi::Number>().DoubleValue();
    if (!(bytes >= 0 && bytes <= 9007199254740991.0) || bytes != static_cast<double>(static_cast<uint64_t>(bytes))) {
      throw InvalidValue("expected a whole number of bytes >= 0, received " + std::to_string(bytes));
    }
    cpu_cache().set_limit(static_cast<size_t>(bytes));
    return info.Env().Undefined();
  });
}

Napi::Value ReleaseCpuCache(const Napi::CallbackInfo& info) {
  cpu_cache().release_cached();
  return info.Env().Undefined();
}

Napi::Value CudaAvailable(const Napi::CallbackInfo& info) {
  return with_js_errors(info.Env(), [&]() -> Napi::Value { return Napi::Boolean::New(info.Env(), cuda_available()); });
}

Napi::Value CudaDeviceCount(const Napi::CallbackInfo& info) {
  return with_js_errors(info.Env(), [&]() -> Napi::Value {
    return Napi::Number::New(info.Env(), static_cast<double>(cuda_device_count()));
  });
}

}  // namespace

void register_runtime(Napi::Env env, Napi::Object exports) {
  cpu_cache();  // installed before any tensor exists, so that all of them can come from it
  exports.Set("cpuCacheStats", Napi::Function::New<CpuCacheStats>(env, "cpuCacheStats"));
  exports.Set("setCpuCacheLimit", Napi::Function::New<SetCpuCacheLimit>(env, "setCpuCacheLimit"));
  exports.Set("releaseCpuCache", Napi::Function::New<ReleaseCpuCache>(env, "releaseCpuCache"));
  exports.Set("setNumThreads", Napi::Function::New<SetNumThreads>(env, "setNumThreads"));
  exports.Set("getNumThreads", Napi::Function::New<GetNumThreads>(env, "getNumThreads"));
  exports.Set("stopComputeThread", Napi::Function::New<StopComputeThread>(env, "stopComputeThread"));
  exports.Set("cudaAvailable", Napi::Function::New<CudaAvailable>(env, "cudaAvailable"));
  exports.Set("cudaDeviceCount", Napi::Function::New<CudaDeviceCount>(env, "cudaDeviceCount"));
  exports.Set("libtorchVersion", Napi::String::New(env, TORCH_VERSION));
}

}  // namespace vitorch::binding
