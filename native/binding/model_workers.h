// The asynchronous model calls: each copies its inputs on the main thread, does the work on the compute thread under
// the model's mutex, and builds its JS result on the main thread.
#pragma once

#include <napi.h>
#include <torch/types.h>

#include <memory>
#include <string>

#include "binding/model_wrap.h"
#include "binding/promise_worker.h"
#include "model/checkpoint_adaptation.h"
#include "model/state_dict.h"

namespace vitorch::binding {

// Runs the model under its mutex, without autograd bookkeeping unless the model is in training mode.
torch::Tensor run_model(SharedModel& shared, const torch::Tensor& images, bool features_only);

Napi::Object load_report_to_js(Napi::Env env, const model::LoadReport& report);

// Base of workers that act on one model: keeps the JS handle alive and counts the call as in flight.
class ModelWorker : public PromiseWorker {
 public:
  ModelWorker(Napi::Env env, const char* name, ModelWrap* wrap, std::shared_ptr<SharedModel> shared);

 protected:
  void Settled() override;
  ModelWrap* wrap_;
  std::shared_ptr<SharedModel> shared_;

 private:
  Napi::ObjectReference keep_alive_;
};

class ForwardWorker : public ModelWorker {
 public:
  // `parts` are one batch laid end to end along the first dimension; more than one are joined on the compute
  // thread, so a caller handing over many queued inputs does no copying on the event loop.
  ForwardWorker(Napi::Env env, ModelWrap* wrap, std::shared_ptr<SharedModel> shared, std::vector<torch::Tensor> parts);

 protected:
  void Compute() override;
  Napi::Value Result(Napi::Env env) override;
  void Settled() override;

 private:
  std::vector<torch::Tensor> parts_;
  torch::Tensor output_;
};

class LoadStateDictWorker : public ModelWorker {
 public:
  LoadStateDictWorker(Napi::Env env, ModelWrap* wrap, std::shared_ptr<SharedModel> shared, std::string path,
                      model::ModelLoadOptions options);

 protected:
  void Compute() override;
  Napi::Value Result(Napi::Env env) override;
  void Settled() override;

 private:
  std::string path_;
  model::ModelLoadOptions options_;
  model::LoadReport report_;
};

}  // namespace vitorch::binding
