// Base for every asynchronous native call. The main thread copies the call's inputs into the worker and start()s
// it; Compute runs on the compute thread (runtime/compute_thread.h; no N-API there), which then hands the worker
// back to the main thread through the environment's one thread-safe function (SettleQueue), where Result builds
// the value and the Promise settles. No libuv pool thread is taken at any point, so the pool stays free for fs,
// zlib and sharp however many calls are queued. A C++ exception thrown by Compute is caught on the compute thread
// and rejects the Promise with the mapped JS error (js_errors.h), never reaching Node.
//
// Calls run in the order they were started (the compute thread's queue is the only queue) and their Promises
// settle in that order. A pending call keeps Node's event loop alive, as libuv work would. If the environment goes
// away first (a worker thread terminated, or an addon environment torn down, with calls in flight), the calls still
// queued run but are never settled: their workers are left allocated rather than destroyed into a dead
// environment.
#pragma once

#include <napi.h>

#include <memory>
#include <mutex>

#include "binding/js_errors.h"

namespace vitorch::binding {

class PromiseWorker {
 public:
  // `name` says what the call is (e.g. "vitorch.forwardAsync"), for debugging.
  PromiseWorker(Napi::Env env, const char* name);
  virtual ~PromiseWorker() = default;
  PromiseWorker(const PromiseWorker&) = delete;
  PromiseWorker& operator=(const PromiseWorker&) = delete;

  // Main thread. Sends the worker (which then owns itself) to the compute thread and returns the Promise it settles.
  Napi::Promise start();

 protected:
  // Compute thread.
  virtual void Compute() = 0;
  // Main thread, after Compute succeeded.
  virtual Napi::Value Result(Napi::Env env) = 0;
  // Main thread, after Compute, whether it succeeded or not (bookkeeping such as in-flight counters).
  virtual void Settled() {}

 private:
  friend class SettleQueue;
  // Compute thread.
  void run() noexcept;
  // Main thread: Settled(), then the Promise resolved with Result() or rejected with the captured error.
  void settle(Napi::Env env) noexcept;

  Napi::Env env_;
  const char* name_;
  Napi::Promise::Deferred deferred_;
  CapturedError failure_;
};

// One per Node environment (AddonData::settle_queue): the thread-safe function through which the compute thread
// hands finished workers back to the main thread. Referenced (keeping the event loop alive) only while calls are
// pending. Its mutex and `open_` make delivering safe against the environment's teardown, which finalizes the
// thread-safe function.
class SettleQueue {
 public:
  // Main thread: the environment's queue, made on first use.
  static std::shared_ptr<SettleQueue> of(Napi::Env env);
  // Main thread: one more call pending.
  void begin(Napi::Env env);
  // Compute thread: the worker's Compute is done; settle it on the main thread (or leave it, if the environment is
  // gone).
  void deliver(PromiseWorker* worker);

 private:
  static void call_js(napi_env env, napi_value, void* context, void* data);
  static void finalize(napi_env env, void* data, void* hint);

  std::mutex mutex_;
  napi_threadsafe_function function_ = nullptr;
  bool open_ = false;
  // Main thread only.
  int pending_ = 0;
};

}  // namespace vitorch::binding
