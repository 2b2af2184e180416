// NativeTrainer: one model's optimizer and training steps (native/train/training_session.h). lib/train/ wraps it in
// the public Optimizer and Trainer classes.
//
// Threading: stepAsync, evaluateAsync and the training-state calls join the model's own queue of asynchronous calls
// (binding/model_wrap.h), so they run one after another with forwardAsync and loadStateDictAsync, each computed on
// the compute thread (runtime/compute_thread.h) under the model's mutex, and the event loop stays free. The
// synchronous calls (applyUpdate, zeroGrad, setLearningRate) are refused while asynchronous calls on the model are in
// flight instead of blocking the loop.
#pragma once

#include <napi.h>

#include <memory>

#include "binding/model_wrap.h"
#include "train/training_session.h"

namespace vitorch::binding {

class TrainerWrap : public Napi::ObjectWrap<TrainerWrap> {
 public:
  static Napi::Function Define(Napi::Env env);

  // new NativeTrainer(nativeModel, optimizerSpec)
  explicit TrainerWrap(const Napi::CallbackInfo& info);
  ~TrainerWrap() override;

  // After a step: V8 is told about the optimizer state's memory (main thread).
  void refresh_memory_accounting();

 private:
  Napi::Value StepAsync(const Napi::CallbackInfo& info);
  Napi::Value EvaluateAsync(const Napi::CallbackInfo& info);
  Napi::Value ApplyUpdate(const Napi::CallbackInfo& info);
  Napi::Value ZeroGrad(const Napi::CallbackInfo& info);
  Napi::Value SetLearningRate(const Napi::CallbackInfo& info);
  Napi::Value LearningRates(const Napi::CallbackInfo& info);
  Napi::Value Groups(const Napi::CallbackInfo& info);
  Napi::Value SaveStateAsync(const Napi::CallbackInfo& info);
  Napi::Value LoadStateAsync(const Napi::CallbackInfo& info);

  // The model's wrap, refusing use once the model is disposed.
  ModelWrap* model() const;

  Napi::ObjectReference model_object_;
  ModelWrap* model_wrap_ = nullptr;
  std::shared_ptr<SharedModel> shared_;
  std::shared_ptr<train::TrainingSession> session_;
  int64_t accounted_bytes_ = 0;
};

}  // namespace vitorch::binding
