// Process-wide settings and facts: libtorch's intra-op thread count, CUDA availability, versions.
#include <ATen/Parallel.h>
#include <torch/version.h>

#include "binding/exports.h"
#include "binding/js_errors.h"
#include "common/device.h"
#include "common/errors.h"

namespace vitorch::binding {
namespace {

Napi::Value SetNumThreads(const Napi::CallbackInfo& info) {
  return with_js_errors(info.Env(), [&]() -> Napi::Value {
    if (info.Length() < 1 || !info[0].IsNumber()) throw InvalidType("expected a number of threads");
    const double count = info[0].As<Napi::Number>().DoubleValue();
    if (count < 1 || count > 1024 || count != static_cast<int>(count)) {
      throw InvalidValue("expected an integer number of threads in [1, 1024], received " + std::to_string(count));
    }
    at::set_num_threads(static_cast<int>(count));
    return info.Env().Undefined();
  });
}

Napi::Value GetNumThreads(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), at::get_num_threads());
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
  exports.Set("setNumThreads", Napi::Function::New<SetNumThreads>(env, "setNumThreads"));
  exports.Set("getNumThreads", Napi::Function::New<GetNumThreads>(env, "getNumThreads"));
  exports.Set("cudaAvailable", Napi::Function::New<CudaAvailable>(env, "cudaAvailable"));
  exports.Set("cudaDeviceCount", Napi::Function::New<CudaDeviceCount>(env, "cudaDeviceCount"));
  exports.Set("libtorchVersion", Napi::String::New(env, TORCH_VERSION));
}

}  // namespace vitorch::binding
