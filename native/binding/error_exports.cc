// registerErrorClasses({ TypeError, RangeError, Error, CheckpointError, StateDictError, DisposedError,
// DistributedError }): lib/ hands its error classes to native code once at load, so native failures are thrown as
// instances of the very
// classes users catch, in the realm that loaded vitorch.
#include "binding/addon_data.h"
#include "binding/exports.h"

namespace vitorch::binding {
namespace {

Napi::Value RegisterErrorClasses(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) throw Napi::TypeError::New(env, "expected an object of error classes");
  auto classes = info[0].As<Napi::Object>();
  auto& data = addon_data(env);
  auto take = [&](const char* name, Napi::FunctionReference& slot) {
    Napi::Value value = classes.Get(name);
    if (!value.IsFunction()) throw Napi::TypeError::New(env, std::string("expected a class for ") + name);
    slot = Napi::Persistent(value.As<Napi::Function>());
  };
  take("TypeError", data.type_error);
  take("RangeError", data.range_error);
  take("Error", data.plain_error);
  take("CheckpointError", data.checkpoint_error);
  take("StateDictError", data.state_dict_error);
  take("DisposedError", data.disposed_error);
  take("DistributedError", data.distributed_error);
  return env.Undefined();
}

}  // namespace

void register_errors(Napi::Env env, Napi::Object exports) {
  exports.Set("registerErrorClasses", Napi::Function::New<RegisterErrorClasses>(env, "registerErrorClasses"));
}

}  // namespace vitorch::binding
