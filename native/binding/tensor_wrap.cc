#include "binding/tensor_wrap.h"

#include "binding/addon_data.h"
#include "binding/js_errors.h"
#include "binding/typed_array_conversion.h"
#include "common/describe.h"
#include "common/device.h"
#include "common/errors.h"
#include "runtime/compute_thread.h"

namespace vitorch::binding {
namespace {

// Native code hands a tensor to the JS constructor through this, so that JS cannot construct an empty handle.
struct PendingTensor {
  torch::Tensor tensor;
  TensorWrap::Ownership ownership;
};

}  // namespace

Napi::Function TensorWrap::Define(Napi::Env env) {
  return DefineClass(env, "NativeTensor",
                     {
                         InstanceAccessor<&TensorWrap::Shape>("shape"),
                         InstanceAccessor<&TensorWrap::Dtype>("dtype"),
                         InstanceAccessor<&TensorWrap::Device>("device"),
                         InstanceAccessor<&TensorWrap::RequiresGrad, &TensorWrap::SetRequiresGrad>("requiresGrad"),
                         InstanceAccessor<&TensorWrap::Nbytes>("nbytes"),
                         InstanceAccessor<&TensorWrap::IsDisposed>("disposed"),
                         InstanceMethod<&TensorWrap::ToTypedArray>("toTypedArray"),
                         InstanceMethod<&TensorWrap::To>("to"),
                         InstanceMethod<&TensorWrap::Dispose>("dispose"),
                         InstanceMethod<&TensorWrap::Backward>("backward"),
                         InstanceAccessor<&TensorWrap::Grad>("grad"),
                         InstanceMethod<&TensorWrap::Item>("item"),
                         InstanceMethod<&TensorWrap::Argmax>("argmax"),
                         InstanceMethod<&TensorWrap::Softmax>("softmax"),
                         InstanceMethod<&TensorWrap::Mean>("mean"),
                         InstanceMethod<&TensorWrap::Sum>("sum"),
                         InstanceMethod<&TensorWrap::Binary>("binary"),
                         InstanceMethod<&TensorWrap::Detach>("detach"),
                     });
}

Napi::Object TensorWrap::New(Napi::Env env, torch::Tensor tensor, Ownership ownership) {
  PendingTensor pending{std::move(tensor), ownership};
  return addon_data(env).tensor_constructor.New({Napi::External<PendingTensor>::New(env, &pending)});
}

const torch::Tensor& TensorWrap::From(const Napi::Value& value, const char* argument) {
  auto& constructor = addon_data(value.Env()).tensor_constructor;
  if (!value.IsObject() || !value.As<Napi::Object>().InstanceOf(constructor.Value())) {
    throw InvalidType(std::string("expected a Tensor for ") + argument);
  }
  return Unwrap(value.As<Napi::Object>())->tensor();
}

TensorWrap::TensorWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<TensorWrap>(info) {
  if (info.Length() != 1 || !info[0].IsExternal()) {
    throw Napi::TypeError::New(info.Env(), "NativeTensor cannot be constructed directly: use tensor()");
  }
  auto* pending = info[0].As<Napi::External<PendingTensor>>().Data();
  tensor_ = std::move(pending->tensor);
  if (pending->ownership == Ownership::Owns && tensor_.defined()) {
    accounted_bytes_ = static_cast<int64_t>(tensor_.nbytes());
    Napi::MemoryManagement::AdjustExternalMemory(info.Env(), accounted_bytes_);
  }
}

TensorWrap::~TensorWrap() { release(); }

void TensorWrap::release() {
  if (accounted_bytes_ != 0) {
    Napi::MemoryManagement::AdjustExternalMemory(Env(), -accounted_bytes_);
    accounted_bytes_ = 0;
  }
  tensor_ = torch::Tensor();
  disposed_ = true;
}

const torch::Tensor& TensorWrap::tensor() const {
  if (disposed_) throw UseAfterDispose("this Tensor has been disposed");
  return tensor_;
}

Napi::Value TensorWrap::Shape(const Napi::CallbackInfo& info) {
  return with_js_errors(info.Env(), [&]() -> Napi::Value {
    const auto sizes = tensor().sizes();
    auto shape = Napi::Array::New(info.Env(), sizes.size());
    for (size_t i = 0; i < sizes.size(); ++i)
      shape.Set(i, Napi::Number::New(info.Env(), static_cast<double>(sizes[i])));
    return shape;
  });
}

Napi::Value TensorWrap::Dtype(const Napi::CallbackInfo& info) {
  return with_js_errors(
      info.Env(), [&]() -> Napi::Value { return Napi::String::New(info.Env(), dtype_name(tensor().scalar_type())); });
}

Napi::Value TensorWrap::Device(const Napi::CallbackInfo& info) {
  return with_js_errors(info.Env(),
                        [&]() -> Napi::Value { return Napi::String::New(info.Env(), tensor().device().str()); });
}

Napi::Value TensorWrap::RequiresGrad(const Napi::CallbackInfo& info) {
  return with_js_errors(info.Env(),
                        [&]() -> Napi::Value { return Napi::Boolean::New(info.Env(), tensor().requires_grad()); });
}

void TensorWrap::SetRequiresGrad(const Napi::CallbackInfo& info, const Napi::Value& value) {
  with_js_errors(info.Env(), [&] {
    if (!value.IsBoolean()) throw InvalidType("expected a boolean for requiresGrad");
    const bool wanted = value.As<Napi::Boolean>();
    const auto& t = tensor();
    if (wanted && !t.is_floating_point()) {
      throw InvalidType(std::string("only floating-point tensors can require gradients, this one is ") +
                        dtype_name(t.scalar_type()));
    }
    // A non-leaf's flag is decided by autograd; libtorch would throw, so say why.
    if (!t.is_leaf()) throw InvalidValue("requiresGrad can only be set on a leaf tensor, not on a computed one");
    const_cast<torch::Tensor&>(t).requires_grad_(wanted);
  });
}

Napi::Value TensorWrap::Nbytes(const Napi::CallbackInfo& info) {
  return with_js_errors(info.Env(), [&]() -> Napi::Value {
    return Napi::Number::New(info.Env(), static_cast<double>(tensor().nbytes()));
  });
}

Napi::Value TensorWrap::IsDisposed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), disposed_); }

Napi::Value TensorWrap::ToTypedArray(const Napi::CallbackInfo& info) {
  return with_js_errors(info.Env(), [&]() -> Napi::Value { return typed_array_from_tensor(info.Env(), tensor()); });
}

// to(device: string | null, dtype: string | null) -> a new NativeTensor (the same one's data when nothing changes,
// as in PyTorch).
Napi::Value TensorWrap::To(const Napi::CallbackInfo& info) {
  return with_js_errors(info.Env(), [&]() -> Napi::Value {
    const auto& source = tensor();
    auto options = torch::TensorOptions().device(source.device()).dtype(source.scalar_type());
    if (info.Length() > 0 && info[0].IsString()) options = options.device(usable_device(info[0].As<Napi::String>()));
    if (info.Length() > 1 && info[1].IsString()) {
      const std::string name = info[1].As<Napi::String>();
      const auto dtype = dtype_from_name(name);
      if (!dtype) throw InvalidValue("unknown dtype '" + name + "'");
      options = options.dtype(*dtype);
    }
    torch::Tensor converted;
    runtime::run_on_compute_thread([&] { converted = source.to(options); });
    return New(info.Env(), std::move(converted));
  });
}

Napi::Value TensorWrap::Dispose(const Napi::CallbackInfo& info) {
  release();
  return info.Env().Undefined();
}

}  // namespace vitorch::binding
