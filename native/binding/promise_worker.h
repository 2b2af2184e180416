// Base for every asynchronous native call: the work runs off the main thread (Compute, no N-API there: a libuv pool
// thread takes it and hands it to the compute thread, runtime/compute_thread.h), the
// result is built on the main thread (Result) and settles a Promise. A C++ exception thrown by Compute is caught
// on the worker thread and rejects the Promise with the mapped JS error (js_errors.h), never reaching Node.
#pragma once

#include <napi.h>

#include "binding/js_errors.h"

namespace vitorch::binding {

class PromiseWorker : public Napi::AsyncWorker {
 public:
  PromiseWorker(Napi::Env env, const char* resource_name)
      : Napi::AsyncWorker(env, resource_name), deferred_(Napi::Promise::Deferred::New(env)) {}

  // Queues the worker (which then owns itself) and returns the Promise it settles.
  Napi::Promise start() {
    auto promise = deferred_.Promise();
    Queue();
    return promise;
  }

  // The Promise this worker settles, for callers that Queue() it later themselves.
  Napi::Promise promise() const { return deferred_.Promise(); }

 protected:
  // Worker thread.
  virtual void Compute() = 0;
  // Main thread, after Compute succeeded.
  virtual Napi::Value Result(Napi::Env env) = 0;
  // Main thread, after Compute, whether it succeeded or not (bookkeeping such as in-flight counters).
  virtual void Settled() {}

 private:
  void Execute() final;
  void OnOK() final;
  void OnError(const Napi::Error& error) final;

  Napi::Promise::Deferred deferred_;
  CapturedError failure_;
};

}  // namespace vitorch::binding
