// Attention maps and rollout for JS: NativeVisionTransformer's attentionMaps(Async) and attentionRollout(Async), and
// attentionRollout(maps, grid, headFusion, discardRatio) for maps the caller already has. The synchronous forms
// run on the compute thread and wait for it, as forward does; the asynchronous ones are ModelWorkers, queued behind
// the calls started before them.
#include <c10/core/InferenceMode.h>

#include "binding/exports.h"
#include "binding/js_errors.h"
#include "binding/model_workers.h"
#include "binding/model_wrap.h"
#include "binding/tensor_wrap.h"
#include "common/errors.h"
#include "model/attention_maps.h"
#include "model/attention_rollout.h"
#include "runtime/compute_thread.h"

namespace vitorch::binding {
namespace {

// (headFusion, discardRatio) as lib/attention.ts validated them.
model::RolloutOptions rollout_options(const Napi::Value& fusion, const Napi::Value& ratio) {
  if (!fusion.IsString()) throw InvalidType("expected a string for headFusion");
  const auto parsed = model::head_fusion_from_name(fusion.As<Napi::String>());
  if (!parsed) {
    throw InvalidValue("expected headFusion to be one of mean, max, min, received " +
                       fusion.As<Napi::String>().Utf8Value());
  }
  if (!ratio.IsNumber()) throw InvalidType("expected a number for discardRatio");
  auto options = model::RolloutOptions().head_fusion(*parsed).discard_ratio(ratio.As<Napi::Number>().DoubleValue());
  model::validate(options);
  return options;
}

Napi::Array tensors_to_js(Napi::Env env, std::vector<torch::Tensor> tensors) {
  auto array = Napi::Array::New(env, tensors.size());
  for (uint32_t i = 0; i < tensors.size(); ++i) array.Set(i, TensorWrap::New(env, std::move(tensors[i])));
  return array;
}

// The model's attention under its lock: the maps, or their rollout when `rollout` is given.
std::vector<torch::Tensor> run_attention(SharedModel& shared, const torch::Tensor& images,
                                         const std::optional<model::RolloutOptions>& rollout) {
  std::lock_guard<std::mutex> lock(shared.mutex);
  auto& module = *shared.module;
  std::vector<torch::Tensor> result;
  if (rollout) result.push_back(model::attention_rollout(module, images, *rollout));
  else result = model::attention_maps(module, images);
  shared.record_prepared_bytes();
  return result;
}

// Refuses what would fail on the compute thread anyway, before anything is queued.
void check_call(const model::VisionTransformerImpl& module, const torch::Tensor& images) {
  module.check_input(images);
  model::require_evaluation_mode(module);
}

class AttentionWorker : public ModelWorker {
 public:
  AttentionWorker(Napi::Env env, ModelWrap* wrap, std::shared_ptr<SharedModel> shared, torch::Tensor images,
                  std::optional<model::RolloutOptions> rollout)
      : ModelWorker(env, rollout ? "vitorch.attentionRolloutAsync" : "vitorch.attentionMapsAsync", wrap,
                    std::move(shared)),
        images_(std::move(images)),
        rollout_(rollout) {}

 protected:
  void Compute() override {
    result_ = run_attention(*shared_, images_, rollout_);
    images_ = torch::Tensor();
  }
  Napi::Value Result(Napi::Env env) override {
    if (rollout_) return TensorWrap::New(env, std::move(result_.front()));
    return tensors_to_js(env, std::move(result_));
  }
  void Settled() override {
    ModelWorker::Settled();
    wrap_->refresh_memory_accounting();
  }

 private:
  torch::Tensor images_;
  std::optional<model::RolloutOptions> rollout_;
  std::vector<torch::Tensor> result_;
};

// attentionRollout(maps, [gridH, gridW], headFusion, discardRatio)
Napi::Value AttentionRolloutOfMaps(const Napi::CallbackInfo& info) {
  return with_js_errors(info.Env(), [&]() -> Napi::Value {
    if (!info[0].IsArray()) throw InvalidType("expected an array of attention maps");
    const auto array = info[0].As<Napi::Array>();
    std::vector<torch::Tensor> maps;
    for (uint32_t i = 0; i < array.Length(); ++i) {
      const auto name = "maps[" + std::to_string(i) + "]";
      maps.push_back(TensorWrap::From(array.Get(i), name.c_str()));
    }
    if (!info[1].IsArray() || info[1].As<Napi::Array>().Length() != 2) {
      throw InvalidType("expected [gridH, gridW] for grid");
    }
    std::array<int64_t, 2> grid{};
    for (uint32_t i = 0; i < 2; ++i) {
      const Napi::Value side = info[1].As<Napi::Array>().Get(i);
      if (!side.IsNumber()) throw InvalidType("expected [gridH, gridW] for grid");
      grid[i] = side.As<Napi::Number>().Int64Value();
    }
    const auto options = rollout_options(info[2], info[3]);
    torch::Tensor result;
    runtime::run_on_compute_thread([&] { result = model::attention_rollout(maps, grid, options); });
    return TensorWrap::New(info.Env(), std::move(result));
  });
}

}  // namespace

Napi::Value ModelWrap::AttentionMaps(const Napi::CallbackInfo& info) {
  return with_js_errors(info.Env(), [&]() -> Napi::Value {
    const auto& images = TensorWrap::From(info[0], "input");
    std::vector<torch::Tensor> maps;
    runtime::run_on_compute_thread([&] { maps = run_attention(*shared(), images, std::nullopt); });
    refresh_memory_accounting();
    return tensors_to_js(info.Env(), std::move(maps));
  });
}

Napi::Value ModelWrap::AttentionMapsAsync(const Napi::CallbackInfo& info) {
  return with_js_errors(info.Env(), [&]() -> Napi::Value {
    auto images = TensorWrap::From(info[0], "input");
    check_call(*shared()->module, images);
    return schedule(new AttentionWorker(info.Env(), this, shared(), std::move(images), std::nullopt));
  });
}

Napi::Value ModelWrap::AttentionRollout(const Napi::CallbackInfo& info) {
  return with_js_errors(info.Env(), [&]() -> Napi::Value {
    const auto& images = TensorWrap::From(info[0], "input");
    const auto options = rollout_options(info[1], info[2]);
    std::vector<torch::Tensor> result;
    runtime::run_on_compute_thread([&] { result = run_attention(*shared(), images, options); });
    refresh_memory_accounting();
    return TensorWrap::New(info.Env(), std::move(result.front()));
  });
}

Napi::Value ModelWrap::AttentionRolloutAsync(const Napi::CallbackInfo& info) {
  return with_js_errors(info.Env(), [&]() -> Napi::Value {
    auto images = TensorWrap::From(info[0], "input");
    const auto options = rollout_options(info[1], info[2]);
    check_call(*shared()->module, images);
    return schedule(new AttentionWorker(info.Env(), this, shared(), std::move(images), options));
  });
}

void register_attention(Napi::Env env, Napi::Object exports) {
  exports.Set("attentionRollout", Napi::Function::New<AttentionRolloutOfMaps>(env, "attentionRollout"));
}

}  // namespace vitorch::binding
