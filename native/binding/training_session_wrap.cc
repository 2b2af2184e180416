#include "binding/training_session_wrap.h"

#include "binding/js_errors.h"
#include "binding/process_group_wrap.h"
#include "binding/tensor_wrap.h"
#include "binding/training_session_options.h"
#include "binding/training_session_workers.h"
#include "common/errors.h"
#include "runtime/compute_thread.h"

namespace vitorch::binding {
namespace {

std::string string_argument(const Napi::CallbackInfo& info, size_t index, const char* what) {
  if (info.Length() <= index || !info[index].IsString())
    throw InvalidType(std::string("expected a string for ") + what);
  return info[index].As<Napi::String>();
}

}  // namespace

Napi::Function TrainingSessionWrap::Define(Napi::Env env) {
  return DefineClass(env, "NativeTrainingSession",
                     {
                         InstanceMethod<&TrainingSessionWrap::StepAsync>("stepAsync"),
                         InstanceMethod<&TrainingSessionWrap::EvaluateAsync>("evaluateAsync"),
                         InstanceMethod<&TrainingSessionWrap::ApplyUpdate>("applyUpdate"),
                         InstanceMethod<&TrainingSessionWrap::SetLearningRate>("setLearningRate"),
                         InstanceAccessor<&TrainingSessionWrap::LearningRates>("learningRates"),
                         InstanceAccessor<&TrainingSessionWrap::Groups>("groups"),
                         InstanceMethod<&TrainingSessionWrap::SaveStateAsync>("saveStateAsync"),
                         InstanceMethod<&TrainingSessionWrap::LoadStateAsync>("loadStateAsync"),
                         InstanceMethod<&TrainingSessionWrap::Dispose>("dispose"),
                         InstanceAccessor<&TrainingSessionWrap::IsDisposed>("disposed"),
                     });
}

TrainingSessionWrap::TrainingSessionWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<TrainingSessionWrap>(info) {
  with_js_errors(info.Env(), [&] {
    model_wrap_ = ModelWrap::From(info.Length() > 0 ? info[0] : info.Env().Undefined(), "the model");
    model_object_ = Napi::Persistent(info[0].As<Napi::Object>());
    shared_ = model_wrap_->shared();
    model_wrap_->require_idle("build a training session");
    std::lock_guard<std::mutex> lock(shared_->mutex);
    session_ = std::make_shared<train::TrainingSession>(
        shared_->module, optimizer_spec_from_js(info.Length() > 1 ? info[1] : info.Env().Undefined()));
    // A process group: the session trains data-parallel over it (native/distributed/data_parallel.h).
    if (info.Length() > 2 && !info[2].IsUndefined() && !info[2].IsNull()) {
      session_->set_process_group(ProcessGroupWrap::From(info[2], "processGroup"));
    }
  });
}

TrainingSessionWrap::~TrainingSessionWrap() {
  if (accounted_bytes_ != 0) Napi::MemoryManagement::AdjustExternalMemory(Env(), -accounted_bytes_);
}

void TrainingSessionWrap::refresh_memory_accounting() {
  const int64_t bytes = session_ ? session_->optimizer_state_bytes() : 0;
  if (bytes != accounted_bytes_) {
    Napi::MemoryManagement::AdjustExternalMemory(Env(), bytes - accounted_bytes_);
    accounted_bytes_ = bytes;
  }
}

const std::shared_ptr<train::TrainingSession>& TrainingSessionWrap::session() const {
  if (!session_) throw UseAfterDispose("this Trainer has been disposed");
  return session_;
}

ModelWrap* TrainingSessionWrap::model() const {
  session();
  model_wrap_->shared();  // throws UseAfterDispose once the model is disposed
  return model_wrap_;
}

Napi::Value TrainingSessionWrap::Dispose(const Napi::CallbackInfo& info) {
  return with_js_errors(info.Env(), [&]() -> Napi::Value {
    if (!session_) return info.Env().Undefined();
    // Queued workers hold their own references to the session and the model, so they finish unharmed; the
    // optimizer state goes with the last of them.
    session_.reset();
    shared_.reset();
    model_wrap_ = nullptr;
    model_object_.Reset();
    refresh_memory_accounting();
    return info.Env().Undefined();
  });
}

Napi::Value TrainingSessionWrap::IsDisposed(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), !session_);
}

// stepAsync(images, labels, options, lr?) -> Promise<{ loss, correct, count, gradNorm, global: { loss, correct,
// count }, stop }>
Napi::Value TrainingSessionWrap::StepAsync(const Napi::CallbackInfo& info) {
  return with_js_errors(info.Env(), [&]() -> Napi::Value {
    auto* wrap = model();
    const auto& images = TensorWrap::From(info[0], "images");
    const auto& labels = TensorWrap::From(info[1], "labels");
    auto options = step_options_from_js(info.Length() > 2 ? info[2] : info.Env().Undefined());
    std::optional<double> lr;
    if (info.Length() > 3 && info[3].IsNumber()) lr = info[3].As<Napi::Number>().DoubleValue();
    // Checked here too, so that a wrong batch fails before anything is queued.
    shared_->module->check_input(images);
    return wrap->schedule(
        new StepWorker(info.Env(), wrap, shared_, this, Value(), session(), images, labels, options, lr));
  });
}

// evaluateAsync(images, labels, topk, autocast) -> Promise<{ lossSum, top1, topk, count, predictions }>
Napi::Value TrainingSessionWrap::EvaluateAsync(const Napi::CallbackInfo& info) {
  return with_js_errors(info.Env(), [&]() -> Napi::Value {
    auto* wrap = model();
    const auto& images = TensorWrap::From(info[0], "images");
    const auto& labels = TensorWrap::From(info[1], "labels");
    if (info.Length() < 3 || !info[2].IsNumber()) throw InvalidType("expected a number for topk");
    const auto topk = static_cast<int64_t>(info[2].As<Napi::Number>().Int64Value());
    const auto autocast = autocast_from_js(info.Length() > 3 ? info[3] : info.Env().Undefined());
    shared_->module->check_input(images);
    return wrap->schedule(
        new EvaluateWorker(info.Env(), wrap, shared_, this, Value(), session(), images, labels, topk, autocast));
  });
}

// applyUpdate(maxGradNorm) -> the gradient norm before clipping, or null when not clipping
Napi::Value TrainingSessionWrap::ApplyUpdate(const Napi::CallbackInfo& info) {
  return with_js_errors(info.Env(), [&]() -> Napi::Value {
    model()->require_idle("apply an optimizer update");
    double max_norm = 0.0;
    if (info.Length() > 0 && info[0].IsNumber()) max_norm = info[0].As<Napi::Number>().DoubleValue();
    double norm;
    {
      std::lock_guard<std::mutex> lock(shared_->mutex);
      runtime::run_on_compute_thread([&] { norm = session()->apply_update(max_norm); });
    }
    refresh_memory_accounting();
    return norm < 0 ? info.Env().Null() : Napi::Number::New(info.Env(), norm);
  });
}

Napi::Value TrainingSessionWrap::SetLearningRate(const Napi::CallbackInfo& info) {
  return with_js_errors(info.Env(), [&]() -> Napi::Value {
    if (info.Length() < 1 || !info[0].IsNumber()) throw InvalidType("expected a number for the learning rate");
    model()->require_idle("change the learning rate");
    std::lock_guard<std::mutex> lock(shared_->mutex);
    session()->set_learning_rate(info[0].As<Napi::Number>().DoubleValue());
    return info.Env().Undefined();
  });
}

Napi::Value TrainingSessionWrap::LearningRates(const Napi::CallbackInfo& info) {
  return with_js_errors(info.Env(), [&]() -> Napi::Value {
    const auto rates = session()->learning_rates();
    auto result = Napi::Array::New(info.Env(), rates.size());
    for (uint32_t i = 0; i < rates.size(); ++i) result.Set(i, Napi::Number::New(info.Env(), rates[i]));
    return result;
  });
}

Napi::Value TrainingSessionWrap::Groups(const Napi::CallbackInfo& info) {
  return with_js_errors(info.Env(), [&]() -> Napi::Value {
    const auto& built = session()->optimizer();
    auto env = info.Env();
    auto result = Napi::Array::New(env, built.group_names.size());
    for (uint32_t g = 0; g < built.group_names.size(); ++g) {
      auto group = Napi::Object::New(env);
      auto names = Napi::Array::New(env, built.group_names[g].size());
      for (uint32_t i = 0; i < built.group_names[g].size(); ++i) names.Set(i, built.group_names[g][i]);
      group.Set("names", names);
      group.Set("lrScale", built.lr_scales[g]);
      group.Set("weightDecay", train::weight_decay_of(built, g));
      result.Set(g, group);
    }
    return result;
  });
}

Napi::Value TrainingSessionWrap::SaveStateAsync(const Napi::CallbackInfo& info) {
  return with_js_errors(info.Env(), [&]() -> Napi::Value {
    auto* wrap = model();
    auto path = string_argument(info, 0, "the training-state path");
    auto state = string_argument(info, 1, "the caller state");
    return wrap->schedule(new TrainingStateWorker(info.Env(), wrap, shared_, this, Value(), session(),
                                                  TrainingStateWorker::Direction::kSave, path, state));
  });
}

Napi::Value TrainingSessionWrap::LoadStateAsync(const Napi::CallbackInfo& info) {
  return with_js_errors(info.Env(), [&]() -> Napi::Value {
    auto* wrap = model();
    auto path = string_argument(info, 0, "the training-state path");
    return wrap->schedule(new TrainingStateWorker(info.Env(), wrap, shared_, this, Value(), session(),
                                                  TrainingStateWorker::Direction::kLoad, path, ""));
  });
}

}  // namespace vitorch::binding
