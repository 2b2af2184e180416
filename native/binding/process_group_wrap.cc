#include "binding/process_group_wrap.h"

#include "binding/addon_data.h"
#include "binding/exports.h"
#include "binding/js_errors.h"
#include "binding/promise_worker.h"
#include "binding/tensor_wrap.h"
#include "common/errors.h"

namespace vitorch::binding {
namespace {

double number_option(const Napi::Object& options, const char* key, double fallback) {
  const auto value = options.Get(key);
  if (value.IsUndefined()) return fallback;
  if (!value.IsNumber()) throw InvalidType(std::string("expected a number for ") + key);
  return value.As<Napi::Number>().DoubleValue();
}

int integer_option(const Napi::Object& options, const char* key, int fallback) {
  const double value = number_option(options, key, fallback);
  if (value != static_cast<double>(static_cast<int>(value))) {
    throw InvalidValue(std::string("expected an integer for ") + key + ", received " + std::to_string(value));
  }
  return static_cast<int>(value);
}

class ConnectWorker : public PromiseWorker {
 public:
  ConnectWorker(Napi::Env env, std::shared_ptr<std::shared_ptr<distributed::ProcessGroup>> slot,
                distributed::ProcessGroupOptions options)
      : PromiseWorker(env, "vitorch.connectProcessGroup"), slot_(std::move(slot)), options_(std::move(options)) {}

 protected:
  void Compute() override { *slot_ = distributed::ProcessGroup::connect(options_); }
  Napi::Value Result(Napi::Env env) override { return env.Undefined(); }

 private:
  std::shared_ptr<std::shared_ptr<distributed::ProcessGroup>> slot_;
  distributed::ProcessGroupOptions options_;
};

class AllReduceWorker : public PromiseWorker {
 public:
  AllReduceWorker(Napi::Env env, std::shared_ptr<distributed::ProcessGroup> group, std::vector<double> values)
      : PromiseWorker(env, "vitorch.allReduce"), group_(std::move(group)), values_(std::move(values)) {}

 protected:
  void Compute() override { values_ = group_->all_reduce_sum(values_); }
  Napi::Value Result(Napi::Env env) override {
    auto result = Napi::Float64Array::New(env, values_.size());
    for (size_t i = 0; i < values_.size(); ++i) result[i] = values_[i];
    return result;
  }

 private:
  std::shared_ptr<distributed::ProcessGroup> group_;
  std::vector<double> values_;
};

class AllReduceTensorsWorker : public PromiseWorker {
 public:
  AllReduceTensorsWorker(Napi::Env env, std::shared_ptr<distributed::ProcessGroup> group,
                         std::vector<torch::Tensor> tensors, std::string op)
      : PromiseWorker(env, "vitorch.allReduceTensors"),
        group_(std::move(group)),
        tensors_(std::move(tensors)),
        op_(std::move(op)) {}

 protected:
  void Compute() override { group_->all_reduce(tensors_, op_); }
  Napi::Value Result(Napi::Env env) override { return env.Undefined(); }

 private:
  std::shared_ptr<distributed::ProcessGroup> group_;
  std::vector<torch::Tensor> tensors_;
  std::string op_;
};

class BarrierWorker : public PromiseWorker {
 public:
  BarrierWorker(Napi::Env env, std::shared_ptr<distributed::ProcessGroup> group)
      : PromiseWorker(env, "vitorch.barrier"), group_(std::move(group)) {}

 protected:
  void Compute() override { group_->barrier(); }
  Napi::Value Result(Napi::Env env) override { return env.Undefined(); }

 private:
  std::shared_ptr<distributed::ProcessGroup> group_;
};

}  // namespace

Napi::Function ProcessGroupWrap::Define(Napi::Env env) {
  return DefineClass(env, "NativeProcessGroup",
                     {
                         InstanceMethod<&ProcessGroupWrap::ConnectAsync>("connectAsync"),
                         InstanceMethod<&ProcessGroupWrap::AllReduceSumAsync>("allReduceSumAsync"),
                         InstanceMethod<&ProcessGroupWrap::AllReduceAsync>("allReduceAsync"),
                         InstanceMethod<&ProcessGroupWrap::BarrierAsync>("barrierAsync"),
                         InstanceMethod<&ProcessGroupWrap::Destroy>("destroy"),
                     });
}

ProcessGroupWrap::ProcessGroupWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ProcessGroupWrap>(info) {}

std::shared_ptr<distributed::ProcessGroup> ProcessGroupWrap::From(const Napi::Value& value, const char* what) {
  auto& constructor = addon_data(value.Env()).process_group_constructor;
  if (!value.IsObject() || !value.As<Napi::Object>().InstanceOf(constructor.Value())) {
    throw InvalidType(std::string("expected a process group (initProcessGroup()) for ") + what);
  }
  return Unwrap(value.As<Napi::Object>())->group();
}

const std::shared_ptr<distributed::ProcessGroup>& ProcessGroupWrap::group() const {
  // The same error a Trainer stepping on a destroyed group gets (distributed/process_group.cc).
  if (destroyed_) throw DistributedError("this process group has been destroyed");
  if (!*slot_) throw DistributedError("this process group is not connected yet");
  return *slot_;
}

Napi::Value ProcessGroupWrap::ConnectAsync(const Napi::CallbackInfo& info) {
  return with_js_errors(info.Env(), [&]() -> Napi::Value {
    if (connecting_ || *slot_) throw DistributedError("this process group is connected already");
    if (info.Length() < 1 || !info[0].IsObject()) throw InvalidType("expected an options object for connectAsync");
    const auto o = info[0].As<Napi::Object>();
    distributed::ProcessGroupOptions options;
    options.rank = integer_option(o, "rank", options.rank);
    options.world_size = integer_option(o, "worldSize", options.world_size);
    options.master_port = integer_option(o, "masterPort", options.master_port);
    options.restart_count = integer_option(o, "restartCount", options.restart_count);
    const double timeout = number_option(o, "timeoutMs", static_cast<double>(options.timeout.count()));
    if (!(timeout >= 1)) throw InvalidValue("expected timeoutMs >= 1, received " + std::to_string(timeout));
    options.timeout = std::chrono::milliseconds(static_cast<int64_t>(timeout));
    if (o.Has("masterAddr")) options.master_addr = o.Get("masterAddr").ToString();
    if (o.Has("backend")) options.backend = o.Get("backend").ToString();
    if (o.Has("agentStore")) options.agent_store = o.Get("agentStore").ToBoolean();
    connecting_ = true;
    return (new ConnectWorker(info.Env(), slot_, options))->start();
  });
}

Napi::Value ProcessGroupWrap::AllReduceSumAsync(const Napi::CallbackInfo& info) {
  return with_js_errors(info.Env(), [&]() -> Napi::Value {
    if (info.Length() < 1 || !info[0].IsTypedArray() ||
        info[0].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array) {
      throw InvalidType("expected a Float64Array for allReduceSum");
    }
    auto array = info[0].As<Napi::Float64Array>();
    std::vector<double> values(array.Data(), array.Data() + array.ElementLength());
    return (new AllReduceWorker(info.Env(), group(), std::move(values)))->start();
  });
}

Napi::Value ProcessGroupWrap::AllReduceAsync(const Napi::CallbackInfo& info) {
  return with_js_errors(info.Env(), [&]() -> Napi::Value {
    if (info.Length() < 1 || !info[0].IsArray()) throw InvalidType("expected an array of Tensors to all-reduce");
    auto array = info[0].As<Napi::Array>();
    std::vector<torch::Tensor> tensors;
    for (uint32_t i = 0; i < array.Length(); ++i) tensors.push_back(TensorWrap::From(array.Get(i), "tensors[i]"));
    std::string op = "sum";
    if (info.Length() > 1 && info[1].IsString()) op = info[1].As<Napi::String>();
    return (new AllReduceTensorsWorker(info.Env(), group(), std::move(tensors), std::move(op)))->start();
  });
}

Napi::Value ProcessGroupWrap::BarrierAsync(const Napi::CallbackInfo& info) {
  return with_js_errors(info.Env(), [&]() -> Napi::Value { return (new BarrierWorker(info.Env(), group()))->start(); });
}

Napi::Value ProcessGroupWrap::Destroy(const Napi::CallbackInfo& info) {
  return with_js_errors(info.Env(), [&]() -> Napi::Value {
    // Workers already queued hold their own reference and finish; the connections close with the last of them.
    if (*slot_) (*slot_)->destroy();
    slot_->reset();
    destroyed_ = true;
    return info.Env().Undefined();
  });
}

void register_distributed(Napi::Env env, Napi::Object exports) {
  auto constructor = ProcessGroupWrap::Define(env);
  addon_data(env).process_group_constructor = Napi::Persistent(constructor);
  exports.Set("NativeProcessGroup", constructor);
}

}  // namespace vitorch::binding
