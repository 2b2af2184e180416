#include "binding/promise_worker.h"

namespace vitorch::binding {

void PromiseWorker::Execute() {
  try {
    Compute();
  } catch (...) {
    failure_ = capture_current_exception();
  }
}

void PromiseWorker::OnOK() {
  Napi::Env env = Env();
  Settled();
  if (failure_) {
    deferred_.Reject(to_js_error(env, failure_).Value());
    return;
  }
  try {
    deferred_.Resolve(with_js_errors(env, [&] { return Result(env); }));
  } catch (const Napi::Error& error) {
    deferred_.Reject(error.Value());
  }
}

void PromiseWorker::OnError(const Napi::Error& error) {
  Settled();
  deferred_.Reject(error.Value());
}

}  // namespace vitorch::binding
