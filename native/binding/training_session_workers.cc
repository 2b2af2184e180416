#include "binding/training_session_workers.h"

#include "binding/training_session_wrap.h"
#include "binding/typed_array_conversion.h"

namespace vitorch::binding {

SessionWorker::SessionWorker(Napi::Env env, const char* name, ModelWrap* model, std::shared_ptr<SharedModel> shared,
                             TrainingSessionWrap* session_wrap, Napi::Object session_object,
                             std::shared_ptr<train::TrainingSession> session)
    : ModelWorker(env, name, model, std::move(shared)),
      session_(std::move(session)),
      session_wrap_(session_wrap),
      session_alive_(Napi::Persistent(session_object)) {}

void SessionWorker::Settled() {
  ModelWorker::Settled();
  session_wrap_->refresh_memory_accounting();
  // A step frees the model's prepared weights and an evaluation makes them (model/prepared_linear.h).
  wrap_->refresh_memory_accounting();
}

StepWorker::StepWorker(Napi::Env env, ModelWrap* model, std::shared_ptr<SharedModel> shared,
                       TrainingSessionWrap* session_wrap, Napi::Object session_object,
                       std::shared_ptr<train::TrainingSession> session, torch::Tensor images, torch::Tensor labels,
                       train::StepOptions options, std::optional<double> lr)
    : SessionWorker(env, "vitorch.trainStep", model, std::move(shared), session_wrap, session_object,
                    std::move(session)),
      images_(std::move(images)),
      labels_(std::move(labels)),
      options_(options),
      lr_(lr) {}

void StepWorker::Compute() {
  std::lock_guard<std::mutex> lock(shared_->mutex);
  if (lr_) session_->set_learning_rate(*lr_);
  result_ = session_->step(images_, labels_, options_);
  shared_->record_prepared_bytes();
}

Napi::Value StepWorker::Result(Napi::Env env) {
  auto result = Napi::Object::New(env);
  result.Set("loss", result_.loss);
  result.Set("correct", static_cast<double>(result_.correct));
  result.Set("count", static_cast<double>(result_.count));
  result.Set("gradNorm", result_.grad_norm < 0 ? env.Null() : Napi::Number::New(env, result_.grad_norm));
  auto global = Napi::Object::New(env);
  global.Set("loss", result_.global_loss);
  global.Set("correct", static_cast<double>(result_.global_correct));
  global.Set("count", static_cast<double>(result_.global_count));
  result.Set("global", global);
  result.Set("stop", result_.stop);
  return result;
}

EvaluateWorker::EvaluateWorker(Napi::Env env, ModelWrap* model, std::shared_ptr<SharedModel> shared,
                               TrainingSessionWrap* session_wrap, Napi::Object session_object,
                               std::shared_ptr<train::TrainingSession> session, torch::Tensor images,
                               torch::Tensor labels, int64_t topk, std::optional<c10::ScalarType> autocast)
    : SessionWorker(env, "vitorch.evaluate", model, std::move(shared), session_wrap, session_object,
                    std::move(session)),
      images_(std::move(images)),
      labels_(std::move(labels)),
      topk_(topk),
      autocast_(autocast) {}

void EvaluateWorker::Compute() {
  std::lock_guard<std::mutex> lock(shared_->mutex);
  result_ = session_->evaluate(images_, labels_, topk_, autocast_);
  shared_->record_prepared_bytes();
}

Napi::Value EvaluateWorker::Result(Napi::Env env) {
  auto result = Napi::Object::New(env);
  result.Set("lossSum", result_.loss_sum);
  result.Set("top1", static_cast<double>(result_.top1));
  result.Set("topk", static_cast<double>(result_.topk));
  result.Set("count", static_cast<double>(result_.count));
  result.Set("predictions", typed_array_from_tensor(env, result_.predictions));
  return result;
}

TrainingStateWorker::TrainingStateWorker(Napi::Env env, ModelWrap* model, std::shared_ptr<SharedModel> shared,
                                         TrainingSessionWrap* session_wrap, Napi::Object session_object,
                                         std::shared_ptr<train::TrainingSession> session, Direction direction,
                                         std::string path, std::string caller_state)
    : SessionWorker(env, direction == Direction::kSave ? "vitorch.saveTrainingState" : "vitorch.loadTrainingState",
                    model, std::move(shared), session_wrap, session_object, std::move(session)),
      direction_(direction),
      path_(std::move(path)),
      caller_state_(std::move(caller_state)) {}

void TrainingStateWorker::Compute() {
  std::lock_guard<std::mutex> lock(shared_->mutex);
  if (direction_ == Direction::kSave) session_->save(path_, caller_state_);
  else caller_state_ = session_->load(path_);
}

Napi::Value TrainingStateWorker::Result(Napi::Env env) {
  if (direction_ == Direction::kSave) return env.Undefined();
  return Napi::String::New(env, caller_state_);
}

}  // namespace vitorch::binding
