#include "binding/model_wrap.h"

#include "binding/addon_data.h"
#include "binding/js_errors.h"
#include "binding/model_options.h"
#include "binding/model_workers.h"
#include "binding/tensor_wrap.h"
#include "common/describe.h"
#include "common/device.h"
#include "common/errors.h"
#include "model/checkpoint_loading.h"
#include "model/state_dict.h"
#include "runtime/compute_thread.h"

namespace vitorch::binding {
namespace {

struct PendingModel {
  model::VisionTransformer module{nullptr};
};

// [[name, NativeTensor], ...] -> named tensors
model::NamedTensors entries_from_js(const Napi::Value& value) {
  if (!value.IsArray()) throw InvalidType("expected a checkpoint path or a Map of name -> Tensor");
  auto entries = value.As<Napi::Array>();
  model::NamedTensors state;
  for (uint32_t i = 0; i < entries.Length(); ++i) {
    Napi::Value entry = entries.Get(i);
    if (!entry.IsArray() || entry.As<Napi::Array>().Length() != 2 || !entry.As<Napi::Array>().Get(0u).IsString()) {
      throw InvalidType("expected [name, Tensor] pairs");
    }
    auto pair = entry.As<Napi::Array>();
    const std::string name = pair.Get(0u).As<Napi::String>();
    state.emplace_back(name, TensorWrap::From(pair.Get(1u), name.c_str()));
  }
  return state;
}

}  // namespace

Napi::Function ModelWrap::Define(Napi::Env env) {
  return DefineClass(env, "NativeVisionTransformer",
                     {
                         InstanceMethod<&ModelWrap::Forward>("forward"),
                         InstanceMethod<&ModelWrap::ForwardAsync>("forwardAsync"),
                         InstanceMethod<&ModelWrap::ForwardFeatures>("forwardFeatures"),
                         InstanceMethod<&ModelWrap::AttentionMaps>("attentionMaps"),
                         InstanceMethod<&ModelWrap::AttentionMapsAsync>("attentionMapsAsync"),
                         InstanceMethod<&ModelWrap::AttentionRollout>("attentionRollout"),
                         InstanceMethod<&ModelWrap::AttentionRolloutAsync>("attentionRolloutAsync"),
                         InstanceMethod<&ModelWrap::Train>("train"),
                         InstanceAccessor<&ModelWrap::IsTraining>("training"),
                         InstanceMethod<&ModelWrap::NamedParameters>("namedParameters"),
                         InstanceMethod<&ModelWrap::StateDict>("stateDict"),
                         InstanceAccessor<&ModelWrap::ParameterCount>("parameterCount"),
                         InstanceMethod<&ModelWrap::LoadStateDict>("loadStateDict"),
                         InstanceMethod<&ModelWrap::LoadStateDictAsync>("loadStateDictAsync"),
                         InstanceMethod<&ModelWrap::FreezeBackbone>("freezeBackbone"),
                         InstanceMethod<&ModelWrap::UnfreezeBackbone>("unfreezeBackbone"),
                         InstanceMethod<&ModelWrap::To>("to"),
                         InstanceMethod<&ModelWrap::Quantize>("quantize"),
                         InstanceMethod<&ModelWrap::Dequantize>("dequantize"),
                         InstanceAccessor<&ModelWrap::IsQuantized>("quantized"),
                         InstanceAccessor<&ModelWrap::Device>("device"),
                         InstanceAccessor<&ModelWrap::Dtype>("dtype"),
                         InstanceAccessor<&ModelWrap::Options>("options"),
                         InstanceMethod<&ModelWrap::ZeroGrad>("zeroGrad"),
                         InstanceMethod<&ModelWrap::Dispose>("dispose"),
                         InstanceAccessor<&ModelWrap::IsDisposed>("disposed"),
                     });
}

Napi::Object ModelWrap::New(Napi::Env env, model::VisionTransformer module) {
  PendingModel pending{std::move(module)};
  return addon_data(env).model_constructor.New({Napi::External<PendingModel>::New(env, &pending)});
}

ModelWrap::ModelWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ModelWrap>(info) {
  with_js_errors(info.Env(), [&] {
    model::VisionTransformer module{nullptr};
    if (info.Length() == 1 && info[0].IsExternal()) {
      module = std::move(info[0].As<Napi::External<PendingModel>>().Data()->module);
    } else {
      const auto options = vision_transformer_options(info.Length() > 0 ? info[0] : info.Env().Undefined());
      runtime::run_on_compute_thread([&] { module = model::VisionTransformer(options); });
    }
    shared_ = std::make_shared<SharedModel>(std::move(module));
    refresh_memory_accounting();
  });
}

ModelWrap::~ModelWrap() {
  if (accounted_bytes_ != 0) Napi::MemoryManagement::AdjustExternalMemory(Env(), -accounted_bytes_);
}

void ModelWrap::refresh_memory_accounting() {
  int64_t host_bytes = 0;
  if (shared_) {
    for (const auto& [name, tensor] : model::state_dict(*shared_->module)) {
      if (tensor.device().is_cpu()) host_bytes += static_cast<int64_t>(tensor.nbytes());
    }
    host_bytes += shared_->prepared_bytes.load();
  }
  if (host_bytes != accounted_bytes_) {
    Napi::MemoryManagement::AdjustExternalMemory(Env(), host_bytes - accounted_bytes_);
    accounted_bytes_ = host_bytes;
  }
}

ModelWrap* ModelWrap::From(const Napi::Value& value, const char* argument) {
  auto& constructor = addon_data(value.Env()).model_constructor;
  if (!value.IsObject() || !value.As<Napi::Object>().InstanceOf(constructor.Value())) {
    throw InvalidType(std::string("expected a VisionTransformer for ") + argument);
  }
  return Unwrap(value.As<Napi::Object>());
}

const std::shared_ptr<SharedModel>& ModelWrap::shared() const {
  if (!shared_) throw UseAfterDispose("this VisionTransformer has been disposed");
  return shared_;
}

void ModelWrap::require_idle(const char* action) const {
  if (calls_in_flight_ > 0) {
    throw std::runtime_error(std::string("cannot ") + action + " while " + std::to_string(calls_in_flight_) +
                             " asynchronous call(s) on this model are running; await them first");
  }
}

Napi::Promise ModelWrap::schedule(PromiseWorker* worker) { return worker->start(); }

void ModelWrap::end_async_call() { --calls_in_flight_; }

Napi::Value ModelWrap::Forward(const Napi::CallbackInfo& info) {
  return with_js_errors(info.Env(), [&]() -> Napi::Value {
    const auto& images = TensorWrap::From(info[0], "input");
    torch::Tensor output;
    runtime::run_on_compute_thread([&] { output = run_model(*shared(), images, /*features_only=*/false); });
    refresh_memory_accounting();
    return TensorWrap::New(info.Env(), std::move(output));
  });
}

Napi::Value ModelWrap::ForwardFeatures(const Napi::CallbackInfo& info) {
  return with_js_errors(info.Env(), [&]() -> Napi::Value {
    const auto& images = TensorWrap::From(info[0], "input");
    torch::Tensor output;
    runtime::run_on_compute_thread([&] { output = run_model(*shared(), images, /*features_only=*/true); });
    refresh_memory_accounting();
    return TensorWrap::New(info.Env(), std::move(output));
  });
}

Napi::Value ModelWrap::ForwardAsync(const Napi::CallbackInfo& info) {
  return with_js_errors(info.Env(), [&]() -> Napi::Value {
    // One tensor, or an array of them that form one batch (joined on the compute thread). Each is checked here as
    // well as on the worker, so that a wrong shape fails before anything is queued.
    std::vector<torch::Tensor> parts;
    if (info.Length() > 0 && info[0].IsArray()) {
      const auto array = info[0].As<Napi::Array>();
      if (array.Length() == 0) throw InvalidValue("expected at least one input tensor, received an empty array");
      for (uint32_t i = 0; i < array.Length(); ++i) {
        const auto name = "input[" + std::to_string(i) + "]";
        parts.push_back(TensorWrap::From(array.Get(i), name.c_str()));
        try {
          shared()->module->check_input(parts.back());
        } catch (const InvalidType& error) {
          throw InvalidType(name + ": " + error.what());
        } catch (const InvalidValue& error) {
          throw InvalidValue(name + ": " + error.what());
        }
      }
    } else {
      parts.push_back(TensorWrap::From(info[0], "input"));
      shared()->module->check_input(parts.back());
    }
    return schedule(new ForwardWorker(info.Env(), this, shared(), std::move(parts)));
  });
}

Napi::Value ModelWrap::Train(const Napi::CallbackInfo& info) {
  return with_js_errors(info.Env(), [&]() -> Napi::Value {
    bool mode = true;
    if (info.Length() > 0 && !info[0].IsUndefined()) {
      if (!info[0].IsBoolean()) throw InvalidType("expected a boolean for train(mode)");
      mode = info[0].As<Napi::Boolean>();
    }
    require_idle(mode ? "switch to training mode" : "switch to evaluation mode");
    shared()->module->train(mode);
    shared()->record_prepared_bytes();
    refresh_memory_accounting();
    return info.Env().Undefined();
  });
}

Napi::Value ModelWrap::IsTraining(const Napi::CallbackInfo& info) {
  return with_js_errors(
      info.Env(), [&]() -> Napi::Value { return Napi::Boolean::New(info.Env(), shared()->module->is_training()); });
}

Napi::Value ModelWrap::NamedParameters(const Napi::CallbackInfo& info) {
  return with_js_errors(info.Env(), [&]() -> Napi::Value {
    const auto parameters = shared()->module->named_parameters();
    auto result = Napi::Array::New(info.Env(), parameters.size());
    uint32_t i = 0;
    for (const auto& item : parameters) {
      auto pair = Napi::Array::New(info.Env(), 2);
      pair.Set(0u, Napi::String::New(info.Env(), item.key()));
      pair.Set(1u, TensorWrap::New(info.Env(), item.value(), TensorWrap::Ownership::ViewsModel));
      result.Set(i++, pair);
    }
    return result;
  });
}

Napi::Value ModelWrap::StateDict(const Napi::CallbackInfo& info) {
  return with_js_errors(info.Env(), [&]() -> Napi::Value {
    const auto state = model::state_dict(*shared()->module);
    auto result = Napi::Array::New(info.Env(), state.size());
    for (uint32_t i = 0; i < state.size(); ++i) {
      auto pair = Napi::Array::New(info.Env(), 2);
      pair.Set(0u, Napi::String::New(info.Env(), state[i].first));
      pair.Set(1u, TensorWrap::New(info.Env(), state[i].second, TensorWrap::Ownership::ViewsModel));
      result.Set(i, pair);
    }
    return result;
  });
}

Napi::Value ModelWrap::ParameterCount(const Napi::CallbackInfo& info) {
  return with_js_errors(info.Env(), [&]() -> Napi::Value {
    int64_t count = 0;
    for (const auto& parameter : shared()->module->parameters()) count += parameter.numel();
    return Napi::Number::New(info.Env(), static_cast<double>(count));
  });
}

// loadStateDict(pathOrEntries, { strict, resamplePosEmbed, keepModelHead }) -> { missingKeys, unexpectedKeys, notes }
Napi::Value ModelWrap::LoadStateDict(const Napi::CallbackInfo& info) {
  return with_js_errors(info.Env(), [&]() -> Napi::Value {
    const auto options = model_load_options(info[1]);
    require_idle("load a state dict");
    auto& module = shared()->module;
    // A file is read straight into the parameters (model/checkpoint_loading.h); its notes come first in the report.
    model::LoadReport report;
    if (info[0].IsString()) {
      const std::string path = info[0].As<Napi::String>();
      runtime::run_on_compute_thread([&] { report = model::load_file_into_model(*module, path, options); });
    } else {
      auto entries = entries_from_js(info[0]);
      runtime::run_on_compute_thread([&] { report = model::load_into_model(*module, entries, options); });
    }
    refresh_memory_accounting();
    return load_report_to_js(info.Env(), report);
  });
}

Napi::Value ModelWrap::LoadStateDictAsync(const Napi::CallbackInfo& info) {
  return with_js_errors(info.Env(), [&]() -> Napi::Value {
    if (!info[0].IsString()) throw InvalidType("expected a checkpoint path (string) for loadStateDictAsync");
    const auto options = model_load_options(info[1]);
    return schedule(new LoadStateDictWorker(info.Env(), this, shared(), info[0].As<Napi::String>(), options));
  });
}

Napi::Value ModelWrap::FreezeBackbone(const Napi::CallbackInfo& info) {
  return with_js_errors(info.Env(), [&]() -> Napi::Value {
    require_idle("freeze the backbone");
    shared()->module->freeze_backbone();
    return info.Env().Undefined();
  });
}

Napi::Value ModelWrap::UnfreezeBackbone(const Napi::CallbackInfo& info) {
  return with_js_errors(info.Env(), [&]() -> Napi::Value {
    require_idle("unfreeze the backbone");
    shared()->module->unfreeze_backbone();
    return info.Env().Undefined();
  });
}

Napi::Value ModelWrap::To(const Napi::CallbackInfo& info) {
  return with_js_errors(info.Env(), [&]() -> Napi::Value {
    const bool has_device = info.Length() >= 1 && info[0].IsString();
    const bool has_dtype = info.Length() >= 2 && info[1].IsString();
    if (!has_device && !has_dtype) throw InvalidType("expected a device name and/or a dtype for to()");
    auto& module = *shared()->module;
    const auto device = has_device ? usable_device(info[0].As<Napi::String>()) : module.pos_embed.device();
    auto dtype = module.pos_embed.scalar_type();
    if (has_dtype) {
      const std::string name = info[1].As<Napi::String>();
      const auto parsed = dtype_from_name(name);
      if (!parsed || !c10::isFloatingType(*parsed)) {
        throw InvalidType("expected the model's dtype to be one of float32, float64, float16, bfloat16, received " +
                          name);
      }
      dtype = *parsed;
    }
    if (module.quantized() && (dtype != torch::kFloat32 || !device.is_cpu())) {
      throw InvalidValue(std::string("expected a quantized model to stay float32 on the CPU (int8 inference is a CPU "
                                     "mode), received to(") +
                         device.str() + ", " + dtype_name(dtype) + "): call dequantize() first");
    }
    require_idle("move or convert the model");
    runtime::run_on_compute_thread([&] { module.to(device, dtype); });
    refresh_memory_accounting();
    return info.Env().Undefined();
  });
}

// quantize(reduceRange): dynamic int8 quantization of the blocks' Linear layers (model::VisionTransformerImpl).
Napi::Value ModelWrap::Quantize(const Napi::CallbackInfo& info) {
  return with_js_errors(info.Env(), [&]() -> Napi::Value {
    model::Int8Options int8;
    if (info.Length() > 0 && !info[0].IsUndefined()) {
      if (!info[0].IsBoolean()) throw InvalidType("expected a boolean for quantize(reduceRange)");
      int8.reduce_range = info[0].As<Napi::Boolean>();
    }
    change_precision("quantize the model", [&](model::VisionTransformerImpl& module) { module.quantize(int8); });
    return info.Env().Undefined();
  });
}

Napi::Value ModelWrap::Dequantize(const Napi::CallbackInfo& info) {
  return with_js_errors(info.Env(), [&]() -> Napi::Value {
    change_precision("dequantize the model", [](model::VisionTransformerImpl& module) { module.dequantize(); });
    return info.Env().Undefined();
  });
}

void ModelWrap::change_precision(const char* action, const std::function<void(model::VisionTransformerImpl&)>& change) {
  require_idle(action);
  auto& shared_model = *shared();
  runtime::run_on_compute_thread([&] {
    std::lock_guard<std::mutex> lock(shared_model.mutex);
    change(*shared_model.module);
    shared_model.record_prepared_bytes();
  });
  refresh_memory_accounting();
}

Napi::Value ModelWrap::IsQuantized(const Napi::CallbackInfo& info) {
  return with_js_errors(info.Env(),
                        [&]() -> Napi::Value { return Napi::Boolean::New(info.Env(), shared()->module->quantized()); });
}

Napi::Value ModelWrap::Device(const Napi::CallbackInfo& info) {
  return with_js_errors(info.Env(), [&]() -> Napi::Value {
    return Napi::String::New(info.Env(), shared()->module->pos_embed.device().str());
  });
}

Napi::Value ModelWrap::Dtype(const Napi::CallbackInfo& info) {
  return with_js_errors(info.Env(), [&]() -> Napi::Value {
    return Napi::String::New(info.Env(), dtype_name(shared()->module->pos_embed.scalar_type()));
  });
}

Napi::Value ModelWrap::Options(const Napi::CallbackInfo& info) {
  return with_js_errors(info.Env(), [&]() -> Napi::Value {
    const auto& o = shared()->module->options;
    auto env = info.Env();
    auto result = Napi::Object::New(env);
    auto shape = Napi::Array::New(env, 2);
    shape.Set(0u, Napi::Number::New(env, static_cast<double>(o.input_shape()[0])));
    shape.Set(1u, Napi::Number::New(env, static_cast<double>(o.input_shape()[1])));
    result.Set("inputShape", shape);
    result.Set("patchSize", Napi::Number::New(env, static_cast<double>(o.patch_size())));
    result.Set("inChans", Napi::Number::New(env, static_cast<double>(o.in_chans())));
    result.Set("numClasses", Napi::Number::New(env, static_cast<double>(o.num_classes())));
    result.Set("numFeatures", Napi::Number::New(env, static_cast<double>(o.num_features())));
    result.Set("depth", Napi::Number::New(env, static_cast<double>(o.depth())));
    result.Set("numHeads", Napi::Number::New(env, static_cast<double>(o.num_heads())));
    result.Set("mlpRatio", Napi::Number::New(env, o.mlp_ratio()));
    result.Set("qkvBias", Napi::Boolean::New(env, o.qkv_bias()));
    result.Set("dropRate", Napi::Number::New(env, o.drop_rate()));
    result.Set("attnDropRate", Napi::Number::New(env, o.attn_drop_rate()));
    result.Set("dropPathRate", Napi::Number::New(env, o.drop_path_rate()));
    result.Set("activation", Napi::String::New(env, activation_to_js(o.activation())));
    result.Set("layerNormEps", Napi::Number::New(env, o.layer_norm_eps()));
    return result;
  });
}

// Every parameter's gradient becomes undefined (PyTorch's zero_grad(set_to_none=True)).
Napi::Value ModelWrap::ZeroGrad(const Napi::CallbackInfo& info) {
  return with_js_errors(info.Env(), [&]() -> Napi::Value {
    require_idle("reset gradients");
    for (auto& parameter : shared()->module->parameters()) parameter.mutable_grad().reset();
    return info.Env().Undefined();
  });
}

Napi::Value ModelWrap::Dispose(const Napi::CallbackInfo& info) {
  shared_.reset();
  refresh_memory_accounting();
  return info.Env().Undefined();
}

Napi::Value ModelWrap::IsDisposed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), !shared_); }

}  // namespace vitorch::binding
