// NativeTrainingSession: the JS handle of one train::TrainingSession (native/train/training_session.h), a model and
// the optimizer built for it. lib/train/trainer.ts's Trainer owns one; the JS Optimizer is only its configuration.
//
// Threading: stepAsync, evaluateAsync and the training-state calls are scheduled like the model's own asynchronous
// calls (ModelWrap::schedule): onto the one queue of the compute thread (runtime/compute_thread.h), in call order
// with forwardAsync and loadStateDictAsync, under the model's mutex, settled from there; the event loop and libuv's
// pool stay free. The
// synchronous calls (applyUpdate, setLearningRate) are refused while asynchronous calls on the model are in
// flight instead of blocking the loop.
//
// Memory: V8 is told about the optimizer state's host memory (AdjustExternalMemory), so that a dropped session's
// moments press the garbage collector as its weights do. The session counts those bytes itself when its state
// changes (the first updates, a load); settling a call only compares that count with what V8 was told.
#pragma once

#include <napi.h>

#include <memory>

#include "binding/model_wrap.h"
#include "train/training_session.h"

namespace vitorch::binding {

class TrainingSessionWrap : public Napi::ObjectWrap<TrainingSessionWrap> {
 public:
  static Napi::Function Define(Napi::Env env);

  // new NativeTrainingSession(nativeModel, optimizerSpec)
  explicit TrainingSessionWrap(const Napi::CallbackInfo& info);
  ~TrainingSessionWrap() override;

  // Tells V8 the optimizer state's size when it changed (main thread; cheap: reads the session's count).
  void refresh_memory_accounting();

 private:
  Napi::Value StepAsync(const Napi::CallbackInfo& info);
  Napi::Value EvaluateAsync(const Napi::CallbackInfo& info);
  Napi::Value ApplyUpdate(const Napi::CallbackInfo& info);
  Napi::Value SetLearningRate(const Napi::CallbackInfo& info);
  Napi::Value LearningRates(const Napi::CallbackInfo& info);
  Napi::Value Groups(const Napi::CallbackInfo& info);
  Napi::Value SaveStateAsync(const Napi::CallbackInfo& info);
  Napi::Value LoadStateAsync(const Napi::CallbackInfo& info);
  // dispose(): frees the optimizer state now (calls already queued keep what they need until they finish) and lets
  // go of the model; every later call throws. The Trainer's dispose() and [Symbol.dispose] call it.
  Napi::Value Dispose(const Napi::CallbackInfo& info);
  Napi::Value IsDisposed(const Napi::CallbackInfo& info);

  // The live session, refusing use once disposed.
  const std::shared_ptr<train::TrainingSession>& session() const;
  // The model's wrap, refusing use once this session or the model is disposed.
  ModelWrap* model() const;

  Napi::ObjectReference model_object_;
  ModelWrap* model_wrap_ = nullptr;
  std::shared_ptr<SharedModel> shared_;
  std::shared_ptr<train::TrainingSession> session_;
  int64_t accounted_bytes_ = 0;
};

}  // namespace vitorch::binding
