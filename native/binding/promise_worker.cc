#include "binding/promise_worker.h"

#include "binding/addon_data.h"
#include "runtime/compute_thread.h"

namespace vitorch::binding {

PromiseWorker::PromiseWorker(Napi::Env env, const char* name)
    : env_(env), name_(name), deferred_(Napi::Promise::Deferred::New(env)) {}

Napi::Promise PromiseWorker::start() {
  auto promise = deferred_.Promise();
  auto queue = SettleQueue::of(env_);
  queue->begin(env_);
  // The task holds the queue too, so that it can still ask whether the environment is open after its teardown.
  runtime::post_to_compute_thread([this, queue = std::move(queue)] {
    run();
    queue->deliver(this);
  });
  return promise;
}

void PromiseWorker::run() noexcept {
  try {
    Compute();
  } catch (...) {
    failure_ = capture_current_exception();
  }
}

void PromiseWorker::settle(Napi::Env env) noexcept {
  try {
    Napi::HandleScope scope(env);
    try {
      Settled();
    } catch (...) {
      if (!failure_) failure_ = capture_current_exception();
    }
    if (failure_) {
      deferred_.Reject(to_js_error(env, failure_).Value());
      return;
    }
    try {
      deferred_.Resolve(with_js_errors(env, [&] { return Result(env); }));
    } catch (const Napi::Error& error) {
      deferred_.Reject(error.Value());
    }
  } catch (...) {
    // Building the error itself failed (out of memory): the Promise stays pending rather than an exception
    // reaching Node.
  }
}

std::shared_ptr<SettleQueue> SettleQueue::of(Napi::Env env) {
  auto& slot = addon_data(env).settle_queue;
  if (slot) return slot;
  auto queue = std::make_shared<SettleQueue>();
  // The thread-safe function holds its own reference, released by finalize(), so that call_js can rely on its
  // context for as long as the function exists, whatever order the environment frees things in.
  auto* owner = new std::shared_ptr<SettleQueue>(queue);
  const auto status = napi_create_threadsafe_function(env, nullptr, nullptr, Napi::String::New(env, "vitorch.settle"),
                                                      0, 1, owner, finalize, queue.get(), call_js, &queue->function_);
  if (status != napi_ok) {
    delete owner;
    throw std::runtime_error("could not create the thread-safe function that settles vitorch's Promises");
  }
  // Not keeping the loop alive while nothing is pending.
  napi_unref_threadsafe_function(env, queue->function_);
  queue->open_ = true;
  slot = queue;
  return queue;
}

void SettleQueue::begin(Napi::Env env) {
  if (pending_++ == 0) napi_ref_threadsafe_function(env, function_);
}

void SettleQueue::deliver(PromiseWorker* worker) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!open_) return;
  // Unbounded queue: never blocks. napi_closing means the environment is being torn down: the worker is left.
  napi_call_threadsafe_function(function_, worker, napi_tsfn_nonblocking);
}

void SettleQueue::call_js(napi_env env, napi_value, void* context, void* data) {
  // No environment: the thread-safe function is being finalized with this worker still queued. Its references
  // belong to an environment that is going away, so it is not destroyed.
  if (env == nullptr) return;
  auto* worker = static_cast<PromiseWorker*>(data);
  auto* queue = static_cast<SettleQueue*>(context);
  worker->settle(Napi::Env(env));
  delete worker;
  if (--queue->pending_ == 0) napi_unref_threadsafe_function(env, queue->function_);
}

void SettleQueue::finalize(napi_env, void* data, void*) {
  auto* owner = static_cast<std::shared_ptr<SettleQueue>*>(data);
  {
    std::lock_guard<std::mutex> lock((*owner)->mutex_);
    (*owner)->open_ = false;
  }
  delete owner;
}

}  // namespace vitorch::binding
