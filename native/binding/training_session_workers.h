// The asynchronous calls of a training session: a whole training step, an evaluation batch, saving and loading the
// training state. Each runs off the main thread under the model's mutex, in the model's queue (binding/model_wrap.h).
#pragma once

#include <napi.h>
#include <torch/types.h>

#include <memory>
#include <optional>
#include <string>

#include "binding/model_workers.h"
#include "train/training_session.h"

namespace vitorch::binding {

class TrainingSessionWrap;

// A ModelWorker that also keeps the session's JS handle alive and, when it settles, tells V8 the optimizer state's
// size if it changed. (The model's own accounting is left alone: no session call changes its weights' size.)
class SessionWorker : public ModelWorker {
 public:
  SessionWorker(Napi::Env env, const char* name, ModelWrap* model, std::shared_ptr<SharedModel> shared,
                TrainingSessionWrap* session_wrap, Napi::Object session_object,
                std::shared_ptr<train::TrainingSession> session);

 protected:
  void Settled() override;
  std::shared_ptr<train::TrainingSession> session_;

 private:
  TrainingSessionWrap* session_wrap_;
  Napi::ObjectReference session_alive_;
};

class StepWorker : public SessionWorker {
 public:
  StepWorker(Napi::Env env, ModelWrap* model, std::shared_ptr<SharedModel> shared, TrainingSessionWrap* session_wrap,
             Napi::Object session_object, std::shared_ptr<train::TrainingSession> session, torch::Tensor images,
             torch::Tensor labels, train::StepOptions options, std::optional<double> lr);

 protected:
  void Compute() override;
  Napi::Value Result(Napi::Env env) override;

 private:
  torch::Tensor images_, labels_;
  train::StepOptions options_;
  std::optional<double> lr_;
  train::StepResult result_;
};

class EvaluateWorker : public SessionWorker {
 public:
  EvaluateWorker(Napi::Env env, ModelWrap* model, std::shared_ptr<SharedModel> shared,
                 TrainingSessionWrap* session_wrap, Napi::Object session_object,
                 std::shared_ptr<train::TrainingSession> session, torch::Tensor images, torch::Tensor labels,
                 int64_t topk, std::optional<c10::ScalarType> autocast);

 protected:
  void Compute() override;
  Napi::Value Result(Napi::Env env) override;

 private:
  torch::Tensor images_, labels_;
  int64_t topk_;
  std::optional<c10::ScalarType> autocast_;
  train::EvaluationResult result_;
};

class TrainingStateWorker : public SessionWorker {
 public:
  enum class Direction { kSave, kLoad };
  TrainingStateWorker(Napi::Env env, ModelWrap* model, std::shared_ptr<SharedModel> shared,
                      TrainingSessionWrap* session_wrap, Napi::Object session_object,
                      std::shared_ptr<train::TrainingSession> session, Direction direction, std::string path,
                      std::string caller_state);

 protected:
  void Compute() override;
  Napi::Value Result(Napi::Env env) override;

 private:
  Direction direction_;
  std::string path_;
  std::string caller_state_;
};

}  // namespace vitorch::binding
