// Per-environment state of the addon (set with env.SetInstanceData, so worker threads and multiple Node
// environments each get their own): the constructors native code needs to create JS objects and errors.
#pragma once

#include <napi.h>

namespace vitorch::binding {

struct AddonData {
  Napi::FunctionReference tensor_constructor;
  Napi::FunctionReference model_constructor;
  // Error classes defined in lib/errors.ts, handed over by lib/binding.ts at load time. Empty until then, in which
  // case plain Errors are thrown.
  Napi::FunctionReference checkpoint_error;
  Napi::FunctionReference state_dict_error;
  Napi::FunctionReference disposed_error;
};

inline AddonData& addon_data(Napi::Env env) { return *env.GetInstanceData<AddonData>(); }

}  // namespace vitorch::binding
