// Per-environment state of the addon (set with env.SetInstanceData, so worker threads and multiple Node
// environments each get their own): the constructors native code needs to create JS objects and errors.
#pragma once

#include <napi.h>

#include <memory>

namespace vitorch::binding {

class SettleQueue;

struct AddonData {
  Napi::FunctionReference tensor_constructor;
  Napi::FunctionReference model_constructor;
  Napi::FunctionReference process_group_constructor;
  // Error classes handed over by lib/binding.ts at load time: lib/errors.ts's own, and the TypeError, RangeError
  // and Error of the realm that loaded vitorch (under Jest or node:vm that is not the addon's main context, and
  // `instanceof RangeError` must still hold there). Empty until then, in which case N-API's own errors are thrown.
  Napi::FunctionReference type_error;
  Napi::FunctionReference range_error;
  Napi::FunctionReference plain_error;
  Napi::FunctionReference checkpoint_error;
  Napi::FunctionReference state_dict_error;
  Napi::FunctionReference disposed_error;
  Napi::FunctionReference distributed_error;
  // Where the compute thread settles asynchronous calls (binding/promise_worker.h); made by the first one.
  std::shared_ptr<SettleQueue> settle_queue;
};

inline AddonData& addon_data(Napi::Env env) { return *env.GetInstanceData<AddonData>(); }

}  // namespace vitorch::binding
