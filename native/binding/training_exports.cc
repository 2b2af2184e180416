// The training surface: the NativeTrainingSession class, crossEntropy, grad mode (noGrad), manualSeed and
// backwardAsync.
#include <ATen/Context.h>
#include <c10/core/GradMode.h>
#include <torch/utils.h>

#include "binding/exports.h"
#include "binding/js_errors.h"
#include "binding/promise_worker.h"
#include "binding/tensor_wrap.h"
#include "binding/training_session_wrap.h"
#include "common/describe.h"
#include "common/errors.h"
#include "train/loss.h"

namespace vitorch::binding {
namespace {

// crossEntropy(logits, labels, labelSmoothing) -> the mean loss, recording a graph when the logits have one.
Napi::Value CrossEntropy(const Napi::CallbackInfo& info) {
  return with_js_errors(info.Env(), [&]() -> Napi::Value {
    const auto& logits = TensorWrap::From(info[0], "logits");
    const auto& labels = TensorWrap::From(info[1], "labels");
    double smoothing = 0.0;
    if (info.Length() > 2 && info[2].IsNumber()) smoothing = info[2].As<Napi::Number>().DoubleValue();
    if (logits.dim() != 2) {
      throw InvalidValue("expected logits of shape [N, classes], received " + format_shape(logits.sizes()));
    }
    // Checked where the caller's labels are (host memory, as tensor() makes them), before they go to the logits'
    // device.
    train::check_labels(labels, logits.size(0), logits.size(1));
    return TensorWrap::New(info.Env(), train::cross_entropy(logits, labels.to(logits.device()), smoothing));
  });
}

// setGradEnabled(enabled) -> the previous value. Grad mode is per thread: this is the main thread's.
Napi::Value SetGradEnabled(const Napi::CallbackInfo& info) {
  return with_js_errors(info.Env(), [&]() -> Napi::Value {
    if (info.Length() < 1 || !info[0].IsBoolean()) throw InvalidType("expected a boolean for setGradEnabled");
    const bool previous = c10::GradMode::is_enabled();
    c10::GradMode::set_enabled(info[0].As<Napi::Boolean>());
    return Napi::Boolean::New(info.Env(), previous);
  });
}

// manualSeed(seed): seeds libtorch's CPU generator (and CUDA's, where present), which dropout and DropPath draw
// from.
Napi::Value ManualSeed(const Napi::CallbackInfo& info) {
  return with_js_errors(info.Env(), [&]() -> Napi::Value {
    if (info.Length() < 1 || !info[0].IsNumber()) throw InvalidType("expected a number for manualSeed");
    const double seed = info[0].As<Napi::Number>().DoubleValue();
    if (seed < 0 || seed > 9007199254740991.0 || seed != static_cast<double>(static_cast<uint64_t>(seed))) {
      throw InvalidValue("expected a non-negative safe integer for manualSeed, received " + std::to_string(seed));
    }
    torch::manual_seed(static_cast<uint64_t>(seed));
    return info.Env().Undefined();
  });
}

class BackwardWorker : public PromiseWorker {
 public:
  BackwardWorker(Napi::Env env, torch::Tensor loss)
      : PromiseWorker(env, "vitorch.backwardAsync"), loss_(std::move(loss)) {}

 protected:
  void Compute() override { loss_.backward(); }
  Napi::Value Result(Napi::Env env) override { return env.Undefined(); }

 private:
  torch::Tensor loss_;
};

Napi::Value BackwardAsync(const Napi::CallbackInfo& info) {
  return with_js_errors(info.Env(), [&]() -> Napi::Value {
    const auto& loss = TensorWrap::From(info[0], "loss");
    if (loss.numel() != 1) {
      throw InvalidValue("expected a tensor of one element (a loss) for backwardAsync(), received shape " +
                         std::to_string(loss.numel()) + " elements");
    }
    if (!loss.requires_grad()) {
      throw InvalidValue(
          "backwardAsync() needs a tensor computed from parameters that require gradients, in "
          "training mode and outside noGrad(); this one has no autograd graph");
    }
    return (new BackwardWorker(info.Env(), loss))->start();
  });
}

}  // namespace

void register_training(Napi::Env env, Napi::Object exports) {
  exports.Set("NativeTrainingSession", TrainingSessionWrap::Define(env));
  exports.Set("crossEntropy", Napi::Function::New<CrossEntropy>(env, "crossEntropy"));
  exports.Set("setGradEnabled", Napi::Function::New<SetGradEnabled>(env, "setGradEnabled"));
  exports.Set("manualSeed", Napi::Function::New<ManualSeed>(env, "manualSeed"));
  exports.Set("backwardAsync", Napi::Function::New<BackwardAsync>(env, "backwardAsync"));
}

}  // namespace vitorch::binding
