// loadCheckpoint(path) / loadCheckpointAsync(path): the tensors of a checkpoint by name, without a model.
#include "binding/exports.h"
#include "binding/js_errors.h"
#include "binding/promise_worker.h"
#include "binding/tensor_wrap.h"
#include "checkpoint/checkpoint_reader.h"
#include "common/errors.h"

namespace vitorch::binding {
namespace {

Napi::Array entries_to_js(Napi::Env env, checkpoint::NamedTensors tensors) {
  auto result = Napi::Array::New(env, tensors.size());
  for (uint32_t i = 0; i < tensors.size(); ++i) {
    auto pair = Napi::Array::New(env, 2);
    pair.Set(0u, Napi::String::New(env, tensors[i].first));
    pair.Set(1u, TensorWrap::New(env, std::move(tensors[i].second)));
    result.Set(i, pair);
  }
  return result;
}

std::string path_argument(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsString()) throw InvalidType("expected a checkpoint path (string)");
  return info[0].As<Napi::String>();
}

class LoadCheckpointWorker : public PromiseWorker {
 public:
  LoadCheckpointWorker(Napi::Env env, std::string path)
      : PromiseWorker(env, "vitorch.loadCheckpointAsync"), path_(std::move(path)) {}

 protected:
  void Compute() override { tensors_ = checkpoint::read_checkpoint(path_); }
  Napi::Value Result(Napi::Env env) override { return entries_to_js(env, std::move(tensors_)); }

 private:
  std::string path_;
  checkpoint::NamedTensors tensors_;
};

Napi::Value LoadCheckpoint(const Napi::CallbackInfo& info) {
  return with_js_errors(info.Env(), [&]() -> Napi::Value {
    return entries_to_js(info.Env(), checkpoint::read_checkpoint(path_argument(info)));
  });
}

Napi::Value LoadCheckpointAsync(const Napi::CallbackInfo& info) {
  return with_js_errors(info.Env(), [&]() -> Napi::Value {
    auto* worker = new LoadCheckpointWorker(info.Env(), path_argument(info));
    auto promise = worker->promise();
    worker->Queue();
    return promise;
  });
}

}  // namespace

void register_checkpoint(Napi::Env env, Napi::Object exports) {
  exports.Set("loadCheckpoint", Napi::Function::New<LoadCheckpoint>(env, "loadCheckpoint"));
  exports.Set("loadCheckpointAsync", Napi::Function::New<LoadCheckpointAsync>(env, "loadCheckpointAsync"));
}

}  // namespace vitorch::binding
