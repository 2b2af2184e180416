// NativeTensor: the JS handle of one torch::Tensor. lib/tensor.ts wraps it in the public Tensor class.
//
// Memory: a tensor that owns its storage reports its bytes to V8 (AdjustExternalMemory) so that the garbage
// collector sees the real cost of the handle; dispose() releases the storage at once, and the finalizer does the
// same for handles nobody disposed. Handles that view a model's parameters report nothing: the model accounts for
// that memory.
#pragma once

#include <napi.h>
#include <torch/types.h>

namespace vitorch::binding {

class TensorWrap : public Napi::ObjectWrap<TensorWrap> {
 public:
  enum class Ownership { Owns, ViewsModel };

  static Napi::Function Define(Napi::Env env);
  static Napi::Object New(Napi::Env env, torch::Tensor tensor, Ownership ownership = Ownership::Owns);
  // The tensor behind a NativeTensor argument; InvalidType if `value` is not one, UseAfterDispose if disposed.
  static const torch::Tensor& From(const Napi::Value& value, const char* argument);

  explicit TensorWrap(const Napi::CallbackInfo& info);
  ~TensorWrap() override;

  const torch::Tensor& tensor() const;

 private:
  Napi::Value Shape(const Napi::CallbackInfo& info);
  Napi::Value Dtype(const Napi::CallbackInfo& info);
  Napi::Value Device(const Napi::CallbackInfo& info);
  Napi::Value RequiresGrad(const Napi::CallbackInfo& info);
  void SetRequiresGrad(const Napi::CallbackInfo& info, const Napi::Value& value);
  Napi::Value Nbytes(const Napi::CallbackInfo& info);
  Napi::Value IsDisposed(const Napi::CallbackInfo& info);
  Napi::Value ToTypedArray(const Napi::CallbackInfo& info);
  Napi::Value To(const Napi::CallbackInfo& info);
  Napi::Value Dispose(const Napi::CallbackInfo& info);

  // Autograd and the few operations a training loop needs (tensor_ops.cc).
  Napi::Value Backward(const Napi::CallbackInfo& info);
  Napi::Value Grad(const Napi::CallbackInfo& info);
  Napi::Value Item(const Napi::CallbackInfo& info);
  Napi::Value Argmax(const Napi::CallbackInfo& info);
  Napi::Value Softmax(const Napi::CallbackInfo& info);
  Napi::Value Mean(const Napi::CallbackInfo& info);
  Napi::Value Sum(const Napi::CallbackInfo& info);
  Napi::Value Binary(const Napi::CallbackInfo& info);
  Napi::Value Detach(const Napi::CallbackInfo& info);

  void release();

  torch::Tensor tensor_;
  bool disposed_ = false;
  int64_t accounted_bytes_ = 0;
};

}  // namespace vitorch::binding
