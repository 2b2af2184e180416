#include "binding/promise_worker.h"

#include "runtime/compute_thread.h"

namespace vitorch::binding {

void PromiseWorker::Execute() {
  try {
    // This libuv pool thread waits while the compute thread does the work (runtime/compute_thread.h says why).
    runtime::run_on_compute_thread([this] { Compute(); });
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
