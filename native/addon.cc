// The addon's entry point: registers each concept's exports; nothing else lives here.
#include <napi.h>

#include "binding/addon_data.h"
#include "binding/exports.h"

namespace {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  env.SetInstanceData(new vitorch::binding::AddonData());
  vitorch::binding::register_errors(env, exports);
  vitorch::binding::register_runtime(env, exports);
  vitorch::binding::register_tensor(env, exports);
  vitorch::binding::register_model(env, exports);
  vitorch::binding::register_checkpoint(env, exports);
  vitorch::binding::register_training(env, exports);
  vitorch::binding::register_distributed(env, exports);
  vitorch::binding::register_attention(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(vitorch, Init)
