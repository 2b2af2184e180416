// NativeVisionTransformer: the JS handle of one model::VisionTransformer. lib/model.ts wraps it in the public
// VisionTransformer class.
//
// Threading: forwardAsync and loadStateDictAsync run on the compute thread (runtime/compute_thread.h), in the order
// they were called, whichever model they are for: their Promises settle in that order, and a forward called after
// loadStateDictAsync sees the new weights. Queued calls wait in the compute thread's queue only, holding no thread;
// each is settled from there on the main thread (binding/promise_worker.h). The running call holds the model's
// mutex. Calls that change the model (train/eval, to, freezing, loading synchronously) are refused with an error
// while asynchronous calls are queued or running, rather than blocking the event loop until they finish. dispose()
// is always allowed: queued and running calls keep the weights alive until they settle.
#pragma once

#include <napi.h>

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>

#include "binding/promise_worker.h"
#include "model/vision_transformer.h"

namespace vitorch::binding {

struct SharedModel {
  explicit SharedModel(model::VisionTransformer module_) : module(std::move(module_)) {}
  model::VisionTransformer module;
  std::mutex mutex;
  // The model's prepared weights (PreparedLinear), as of the last call that made or freed them: they are made on
  // the compute thread, and counted into the memory reported to V8 on the main thread.
  std::atomic<int64_t> prepared_bytes{0};
  void record_prepared_bytes() { prepared_bytes.store(module->prepared_bytes()); }
};

class ModelWrap : public Napi::ObjectWrap<ModelWrap> {
 public:
  static Napi::Function Define(Napi::Env env);
  static Napi::Object New(Napi::Env env, model::VisionTransformer module);

  explicit ModelWrap(const Napi::CallbackInfo& info);
  ~ModelWrap() override;

  // Bookkeeping for asynchronous calls, used by the workers (main thread only).
  void begin_async_call() { ++calls_in_flight_; }
  void end_async_call();
  // Starts a worker for this model (a ModelWorker, which counts itself in and out): it runs after every call
  // started before it.
  Napi::Promise schedule(PromiseWorker* worker);
  void refresh_memory_accounting();

  // The NativeVisionTransformer behind a JS value; InvalidType if it is not one.
  static ModelWrap* From(const Napi::Value& value, const char* argument);
  // The live model; throws UseAfterDispose once disposed.
  const std::shared_ptr<SharedModel>& shared() const;
  // Throws unless no asynchronous call is in flight; `action` names what the user tried.
  void require_idle(const char* action) const;

 private:
  Napi::Value Forward(const Napi::CallbackInfo& info);
  Napi::Value ForwardAsync(const Napi::CallbackInfo& info);
  Napi::Value ForwardFeatures(const Napi::CallbackInfo& info);
  // Attention maps and rollout (model/attention_maps.h), defined in binding/attention_exports.cc.
  Napi::Value AttentionMaps(const Napi::CallbackInfo& info);
  Napi::Value AttentionMapsAsync(const Napi::CallbackInfo& info);
  Napi::Value AttentionRollout(const Napi::CallbackInfo& info);
  Napi::Value AttentionRolloutAsync(const Napi::CallbackInfo& info);
  Napi::Value Train(const Napi::CallbackInfo& info);
  Napi::Value IsTraining(const Napi::CallbackInfo& info);
  Napi::Value NamedParameters(const Napi::CallbackInfo& info);
  Napi::Value StateDict(const Napi::CallbackInfo& info);
  Napi::Value ParameterCount(const Napi::CallbackInfo& info);
  Napi::Value LoadStateDict(const Napi::CallbackInfo& info);
  Napi::Value LoadStateDictAsync(const Napi::CallbackInfo& info);
  Napi::Value FreezeBackbone(const Napi::CallbackInfo& info);
  Napi::Value UnfreezeBackbone(const Napi::CallbackInfo& info);
  Napi::Value To(const Napi::CallbackInfo& info);
  Napi::Value Quantize(const Napi::CallbackInfo& info);
  Napi::Value Dequantize(const Napi::CallbackInfo& info);
  Napi::Value IsQuantized(const Napi::CallbackInfo& info);
  // Runs `change` on the compute thread under the model's lock once no async call is in flight, then recounts the
  // prepared weights' memory.
  void change_precision(const char* action, const std::function<void(model::VisionTransformerImpl&)>& change);
  Napi::Value Device(const Napi::CallbackInfo& info);
  Napi::Value Dtype(const Napi::CallbackInfo& info);
  Napi::Value Options(const Napi::CallbackInfo& info);
  Napi::Value ZeroGrad(const Napi::CallbackInfo& info);
  Napi::Value Dispose(const Napi::CallbackInfo& info);
  Napi::Value IsDisposed(const Napi::CallbackInfo& info);

  std::shared_ptr<SharedModel> shared_;
  int calls_in_flight_ = 0;
  int64_t accounted_bytes_ = 0;
};

}  // namespace vitorch::binding
