// vit(options) / vitAsync(options), the seed's factory, and the NativeVisionTransformer class.
#include "binding/addon_data.h"
#include "binding/exports.h"
#include "binding/js_errors.h"
#include "binding/model_options.h"
#include "binding/model_wrap.h"
#include "binding/promise_worker.h"
#include "runtime/compute_thread.h"

namespace vitorch::binding {
namespace {

class VitWorker : public PromiseWorker {
 public:
  VitWorker(Napi::Env env, model::VitFactoryOptions options)
      : PromiseWorker(env, "vitorch.vitAsync"), options_(std::move(options)) {}

 protected:
  void Compute() override { model_ = model::vit(options_); }
  Napi::Value Result(Napi::Env env) override { return ModelWrap::New(env, std::move(model_)); }

 private:
  model::VitFactoryOptions options_;
  model::VisionTransformer model_{nullptr};
};

Napi::Value Vit(const Napi::CallbackInfo& info) {
  return with_js_errors(info.Env(), [&]() -> Napi::Value {
    auto options = vit_factory_options(info.Length() > 0 ? info[0] : info.Env().Undefined());
    model::VisionTransformer module{nullptr};
    runtime::run_on_compute_thread([&] { module = model::vit(options); });
    return ModelWrap::New(info.Env(), std::move(module));
  });
}

Napi::Value VitAsync(const Napi::CallbackInfo& info) {
  return with_js_errors(info.Env(), [&]() -> Napi::Value {
    auto options = vit_factory_options(info.Length() > 0 ? info[0] : info.Env().Undefined());
    return (new VitWorker(info.Env(), std::move(options)))->start();
  });
}

}  // namespace

void register_model(Napi::Env env, Napi::Object exports) {
  auto constructor = ModelWrap::Define(env);
  addon_data(env).model_constructor = Napi::Persistent(constructor);
  exports.Set("NativeVisionTransformer", constructor);
  exports.Set("vit", Napi::Function::New<Vit>(env, "vit"));
  exports.Set("vitAsync", Napi::Function::New<VitAsync>(env, "vitAsync"));
}

}  // namespace vitorch::binding
