// The NativeTensor methods of a hand-written training loop: backward() and .grad, item(), and the handful of
// operations that compute metrics (argmax, softmax, mean, sum, elementwise arithmetic and comparison). Deliberately
// small: vitorch is not a general tensor library. Each records an autograd graph unless grad mode is off.
#include <c10/core/GradMode.h>

#include "binding/js_errors.h"
#include "binding/tensor_wrap.h"
#include "common/describe.h"
#include "common/errors.h"
#include "runtime/compute_thread.h"

namespace vitorch::binding {
namespace {

int64_t dim_argument(const Napi::CallbackInfo& info, const torch::Tensor& tensor, const char* method) {
  if (info.Length() < 1 || !info[0].IsNumber()) throw InvalidType(std::string("expected an integer dim for ") + method);
  const double value = info[0].As<Napi::Number>().DoubleValue();
  const auto rank = tensor.dim();
  if (value != static_cast<double>(static_cast<int64_t>(value)) || value < -rank || value >= rank || rank == 0) {
    throw InvalidValue(std::string("expected dim in [") + std::to_string(-rank) + ", " + std::to_string(rank - 1) +
                       "] for " + method + " of a tensor of shape " + format_shape(tensor.sizes()) + ", received " +
                       std::to_string(value));
  }
  return static_cast<int64_t>(value);
}

}  // namespace

Napi::Value TensorWrap::Backward(const Napi::CallbackInfo& info) {
  return with_js_errors(info.Env(), [&]() -> Napi::Value {
    const auto& self = tensor();
    if (self.numel() != 1) {
      throw InvalidValue("expected a tensor of one element (a loss) for backward(), received shape " +
                         format_shape(self.sizes()));
    }
    if (!self.requires_grad()) {
      throw InvalidValue(
          "backward() needs a tensor computed from parameters that require gradients, in training "
          "mode and outside noGrad(); this one has no autograd graph");
    }
    runtime::run_on_compute_thread([&] { self.backward(); });
    return info.Env().Undefined();
  });
}

Napi::Value TensorWrap::Grad(const Napi::CallbackInfo& info) {
  return with_js_errors(info.Env(), [&]() -> Napi::Value {
    const auto& grad = tensor().grad();
    if (!grad.defined()) return info.Env().Null();
    // The gradient's memory belongs to the parameter's autograd metadata, not to this handle.
    return TensorWrap::New(info.Env(), grad, Ownership::ViewsModel);
  });
}

Napi::Value TensorWrap::Item(const Napi::CallbackInfo& info) {
  return with_js_errors(info.Env(), [&]() -> Napi::Value {
    const auto& self = tensor();
    if (self.numel() != 1) {
      throw InvalidValue("expected a tensor of one element for item(), received shape " + format_shape(self.sizes()));
    }
    return Napi::Number::New(info.Env(), self.item<double>());
  });
}

Napi::Value TensorWrap::Argmax(const Napi::CallbackInfo& info) {
  return with_js_errors(info.Env(), [&]() -> Napi::Value {
    const auto& self = tensor();
    return TensorWrap::New(info.Env(), self.argmax(dim_argument(info, self, "argmax")));
  });
}

Napi::Value TensorWrap::Softmax(const Napi::CallbackInfo& info) {
  return with_js_errors(info.Env(), [&]() -> Napi::Value {
    const auto& self = tensor();
    if (!c10::isFloatingType(self.scalar_type())) {
      throw InvalidType(std::string("expected a floating-point tensor for softmax, received ") +
                        dtype_name(self.scalar_type()));
    }
    return TensorWrap::New(info.Env(), self.softmax(dim_argument(info, self, "softmax")));
  });
}

// mean() over every element; of integer or boolean tensors (such as eq()'s hits) in float32.
Napi::Value TensorWrap::Mean(const Napi::CallbackInfo& info) {
  return with_js_errors(info.Env(), [&]() -> Napi::Value {
    const auto& self = tensor();
    return TensorWrap::New(info.Env(),
                           c10::isFloatingType(self.scalar_type()) ? self.mean() : self.to(torch::kFloat32).mean());
  });
}

Napi::Value TensorWrap::Sum(const Napi::CallbackInfo& info) {
  return with_js_errors(info.Env(), [&]() -> Napi::Value { return TensorWrap::New(info.Env(), tensor().sum()); });
}

// binary(op, other): op is 'add' | 'sub' | 'mul' | 'div' | 'eq'; other a NativeTensor (broadcast) or a number.
Napi::Value TensorWrap::Binary(const Napi::CallbackInfo& info) {
  return with_js_errors(info.Env(), [&]() -> Napi::Value {
    if (info.Length() < 2 || !info[0].IsString()) throw InvalidType("expected an operation name");
    const std::string op = info[0].As<Napi::String>();
    const auto& self = tensor();
    torch::Tensor other;
    if (info[1].IsNumber()) {
      other = torch::scalar_tensor(info[1].As<Napi::Number>().DoubleValue(), self.options().requires_grad(false));
    } else {
      other = TensorWrap::From(info[1], op.c_str());
      if (other.device() != self.device()) {
        throw InvalidValue("expected both tensors on one device for " + op + ", received " + self.device().str() +
                           " and " + other.device().str());
      }
    }
    if (!torch::is_expandable_to(other.sizes(), self.sizes()) &&
        !torch::is_expandable_to(self.sizes(), other.sizes())) {
      try {
        (void)at::infer_size(self.sizes(), other.sizes());
      } catch (const c10::Error&) {
        throw InvalidValue("expected shapes that broadcast for " + op + ", received " + format_shape(self.sizes()) +
                           " and " + format_shape(other.sizes()));
      }
    }
    torch::Tensor result;
    if (op == "add") result = self + other;
    else if (op == "sub") result = self - other;
    else if (op == "mul") result = self * other;
    else if (op == "div") result = self / other;
    else if (op == "eq") result = self.eq(other);
    else throw InvalidValue("unknown operation '" + op + "'");
    return TensorWrap::New(info.Env(), std::move(result));
  });
}

Napi::Value TensorWrap::Detach(const Napi::CallbackInfo& info) {
  return with_js_errors(info.Env(), [&]() -> Napi::Value { return TensorWrap::New(info.Env(), tensor().detach()); });
}

}  // namespace vitorch::binding
