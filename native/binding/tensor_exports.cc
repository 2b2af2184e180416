// tensorFromTypedArray(array, shape, sourceDtype?, targetDtype?) and the NativeTensor class.
#include "binding/addon_data.h"
#include "binding/exports.h"
#include "binding/js_errors.h"
#include "binding/tensor_wrap.h"
#include "binding/typed_array_conversion.h"
#include "common/describe.h"
#include "common/errors.h"

namespace vitorch::binding {
namespace {

std::optional<c10::ScalarType> optional_dtype(const Napi::CallbackInfo& info, size_t index) {
  if (info.Length() <= index || info[index].IsUndefined() || info[index].IsNull()) return std::nullopt;
  if (!info[index].IsString()) throw InvalidType("expected a dtype name");
  const std::string name = info[index].As<Napi::String>();
  auto dtype = dtype_from_name(name);
  if (!dtype) throw InvalidValue("unknown dtype '" + name + "'");
  return dtype;
}

Napi::Value TensorFromTypedArray(const Napi::CallbackInfo& info) {
  return with_js_errors(info.Env(), [&]() -> Napi::Value {
    if (info.Length() < 2 || !info[0].IsTypedArray()) throw InvalidType("expected a TypedArray of tensor data");
    auto tensor = tensor_from_typed_array(info[0].As<Napi::TypedArray>(), shape_from_js(info[1], "shape"),
                                          optional_dtype(info, 2), optional_dtype(info, 3));
    return TensorWrap::New(info.Env(), std::move(tensor));
  });
}

}  // namespace

void register_tensor(Napi::Env env, Napi::Object exports) {
  auto constructor = TensorWrap::Define(env);
  addon_data(env).tensor_constructor = Napi::Persistent(constructor);
  exports.Set("NativeTensor", constructor);
  exports.Set("tensorFromTypedArray", Napi::Function::New<TensorFromTypedArray>(env, "tensorFromTypedArray"));
}

}  // namespace vitorch::binding
