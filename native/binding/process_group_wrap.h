// NativeProcessGroup: the JS handle of one distributed::ProcessGroup (native/distributed/process_group.h), which
// lib/distributed/process-group.ts's initProcessGroup() connects and a data-parallel Trainer hands to its training
// session. The rendezvous and the collectives block until every rank takes part, so they run as asynchronous calls
// on the compute thread (binding/promise_worker.h), never on the event loop.
#pragma once

#include <napi.h>

#include <memory>

#include "distributed/process_group.h"

namespace vitorch::binding {

class ProcessGroupWrap : public Napi::ObjectWrap<ProcessGroupWrap> {
 public:
  static Napi::Function Define(Napi::Env env);
  // The connected group behind a JS value, or a TypeError naming `what`.
  static std::shared_ptr<distributed::ProcessGroup> From(const Napi::Value& value, const char* what);

  // new NativeProcessGroup(): not connected until connectAsync() settles.
  explicit ProcessGroupWrap(const Napi::CallbackInfo& info);

 private:
  // connectAsync({ rank, worldSize, masterAddr, masterPort, backend, timeoutMs, agentStore, restartCount })
  Napi::Value ConnectAsync(const Napi::CallbackInfo& info);
  // allReduceSumAsync(Float64Array) -> Promise<Float64Array> of the sums over the ranks
  Napi::Value AllReduceSumAsync(const Napi::CallbackInfo& info);
  // allReduceAsync(NativeTensor[], op) -> Promise<void>: the tensors reduced in place
  Napi::Value AllReduceAsync(const Napi::CallbackInfo& info);
  Napi::Value BarrierAsync(const Napi::CallbackInfo& info);
  // destroy(): lets go of the connections at once; later calls throw.
  Napi::Value Destroy(const Napi::CallbackInfo& info);

  const std::shared_ptr<distributed::ProcessGroup>& group() const;

  std::shared_ptr<std::shared_ptr<distributed::ProcessGroup>> slot_ =
      std::make_shared<std::shared_ptr<distributed::ProcessGroup>>();
  bool connecting_ = false;
  bool destroyed_ = false;
};

}  // namespace vitorch::binding
