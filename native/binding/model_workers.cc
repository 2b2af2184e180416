#include "binding/model_workers.h"

#include <c10/core/InferenceMode.h>

#include <optional>

#include "binding/tensor_wrap.h"
#include "checkpoint/checkpoint_index.h"
#include "model/checkpoint_loading.h"

namespace vitorch::binding {

torch::Tensor run_model(SharedModel& shared, const torch::Tensor& images, bool features_only) {
  std::lock_guard<std::mutex> lock(shared.mutex);
  auto& module = shared.module;
  // Evaluation runs in inference mode: no autograd graph, no version counting, and the model may reuse its own
  // intermediate results in place. Training keeps autograd on.
  std::optional<c10::InferenceMode> inference;
  if (!module->is_training()) inference.emplace();
  auto output = features_only ? module->forward_features(images) : module->forward(images);
  shared.record_prepared_bytes();
  return output;
}

Napi::Object load_report_to_js(Napi::Env env, const model::LoadReport& report) {
  auto to_array = [&](const std::vector<std::string>& keys) {
    auto array = Napi::Array::New(env, keys.size());
    for (size_t i = 0; i < keys.size(); ++i) array.Set(i, Napi::String::New(env, keys[i]));
    return array;
  };
  auto result = Napi::Object::New(env);
  result.Set("missingKeys", to_array(report.missing_keys));
  result.Set("unexpectedKeys", to_array(report.unexpected_keys));
  result.Set("notes", to_array(report.notes));
  return result;
}

ModelWorker::ModelWorker(Napi::Env env, const char* name, ModelWrap* wrap, std::shared_ptr<SharedModel> shared)
    : PromiseWorker(env, name), wrap_(wrap), shared_(std::move(shared)), keep_alive_(Napi::Persistent(wrap->Value())) {
  wrap_->begin_async_call();
}

void ModelWorker::Settled() { wrap_->end_async_call(); }

ForwardWorker::ForwardWorker(Napi::Env env, ModelWrap* wrap, std::shared_ptr<SharedModel> shared,
                             std::vector<torch::Tensor> parts)
    : ModelWorker(env, "vitorch.forwardAsync", wrap, std::move(shared)), parts_(std::move(parts)) {}

void ForwardWorker::Compute() {
  const auto images = parts_.size() == 1 ? parts_.front() : torch::cat(parts_, 0);
  parts_.clear();
  output_ = run_model(*shared_, images, /*features_only=*/false);
}

Napi::Value ForwardWorker::Result(Napi::Env env) { return TensorWrap::New(env, std::move(output_)); }

void ForwardWorker::Settled() {
  ModelWorker::Settled();
  wrap_->refresh_memory_accounting();
}

LoadStateDictWorker::LoadStateDictWorker(Napi::Env env, ModelWrap* wrap, std::shared_ptr<SharedModel> shared,
                                         std::string path, model::ModelLoadOptions options)
    : ModelWorker(env, "vitorch.loadStateDictAsync", wrap, std::move(shared)),
      path_(std::move(path)),
      options_(options) {}

void LoadStateDictWorker::Compute() {
  // The file is indexed before taking the lock, so forwards keep running meanwhile; its data is then read straight
  // into the parameters, under the lock.
  const auto index = checkpoint::CheckpointIndex::open(path_, options_.read);
  std::lock_guard<std::mutex> lock(shared_->mutex);
  report_ = model::load_index_into_model(*shared_->module, index, options_);
}

Napi::Value LoadStateDictWorker::Result(Napi::Env env) { return load_report_to_js(env, report_); }

void LoadStateDictWorker::Settled() {
  ModelWorker::Settled();
  wrap_->refresh_memory_accounting();
}

}  // namespace vitorch::binding
