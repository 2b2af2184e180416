#include "binding/training_session_options.h"

#include "common/errors.h"

namespace vitorch::binding {
namespace {

Napi::Object object_of(const Napi::Value& value, const char* what) {
  if (!value.IsObject()) throw InvalidType(std::string("expected an object for ") + what);
  return value.As<Napi::Object>();
}

bool present(const Napi::Object& object, const char* key) {
  return object.Has(key) && !object.Get(key).IsUndefined() && !object.Get(key).IsNull();
}

double number_of(const Napi::Object& object, const char* key, double fallback) {
  if (!present(object, key)) return fallback;
  const auto value = object.Get(key);
  if (!value.IsNumber()) throw InvalidType(std::string("expected a number for ") + key);
  return value.As<Napi::Number>().DoubleValue();
}

bool boolean_of(const Napi::Object& object, const char* key, bool fallback) {
  if (!present(object, key)) return fallback;
  const auto value = object.Get(key);
  if (!value.IsBoolean()) throw InvalidType(std::string("expected a boolean for ") + key);
  return value.As<Napi::Boolean>();
}

}  // namespace

std::optional<c10::ScalarType> autocast_from_js(const Napi::Value& value) {
  if (value.IsUndefined() || value.IsNull()) return std::nullopt;
  if (!value.IsString()) throw InvalidType("expected 'bfloat16', 'float16' or null for autocast");
  const std::string name = value.As<Napi::String>();
  if (name == "bfloat16") return c10::ScalarType::BFloat16;
  if (name == "float16") return c10::ScalarType::Half;
  throw InvalidValue("expected 'bfloat16', 'float16' or null for autocast, received '" + name + "'");
}

train::OptimizerSpec optimizer_spec_from_js(const Napi::Value& value) {
  const auto o = object_of(value, "the optimizer options");
  train::OptimizerSpec spec;
  const std::string kind =
      present(o, "kind") && o.Get("kind").IsString() ? o.Get("kind").As<Napi::String>().Utf8Value() : std::string();
  if (kind == "sgd") spec.kind = train::OptimizerKind::kSgd;
  else if (kind == "adam") spec.kind = train::OptimizerKind::kAdam;
  else if (kind == "adamw") spec.kind = train::OptimizerKind::kAdamW;
  else throw InvalidValue("expected kind 'sgd', 'adam' or 'adamw', received '" + kind + "'");
  spec.lr = number_of(o, "lr", spec.lr);
  spec.weight_decay = number_of(o, "weightDecay", spec.weight_decay);
  spec.momentum = number_of(o, "momentum", spec.momentum);
  spec.dampening = number_of(o, "dampening", spec.dampening);
  spec.nesterov = boolean_of(o, "nesterov", spec.nesterov);
  spec.eps = number_of(o, "eps", spec.eps);
  spec.amsgrad = boolean_of(o, "amsgrad", spec.amsgrad);
  spec.fused = boolean_of(o, "fused", spec.fused);
  if (present(o, "betas")) {
    const auto betas = o.Get("betas");
    if (!betas.IsArray() || betas.As<Napi::Array>().Length() != 2)
      throw InvalidType("expected [beta1, beta2] for betas");
    const auto pair = betas.As<Napi::Array>();
    if (!pair.Get(0u).IsNumber() || !pair.Get(1u).IsNumber()) throw InvalidType("expected numbers in betas");
    spec.beta1 = pair.Get(0u).As<Napi::Number>().DoubleValue();
    spec.beta2 = pair.Get(1u).As<Napi::Number>().DoubleValue();
  }
  if (present(o, "groups")) {
    const auto groups = o.Get("groups");
    if (!groups.IsArray()) throw InvalidType("expected an array for groups");
    const auto list = groups.As<Napi::Array>();
    for (uint32_t g = 0; g < list.Length(); ++g) {
      const auto group = object_of(list.Get(g), "a parameter group");
      train::ParameterGroupSpec result;
      const auto names = group.Get("names");
      if (!names.IsArray()) throw InvalidType("expected an array of parameter names for names");
      const auto name_list = names.As<Napi::Array>();
      for (uint32_t i = 0; i < name_list.Length(); ++i) {
        if (!name_list.Get(i).IsString()) throw InvalidType("expected parameter names (strings) in names");
        result.names.push_back(name_list.Get(i).As<Napi::String>());
      }
      if (present(group, "weightDecay")) result.weight_decay = number_of(group, "weightDecay", 0.0);
      result.lr_scale = number_of(group, "lrScale", 1.0);
      spec.groups.push_back(std::move(result));
    }
  }
  return spec;
}

train::StepOptions step_options_from_js(const Napi::Value& value) {
  train::StepOptions options;
  if (value.IsUndefined()) return options;
  const auto o = object_of(value, "the step options");
  options.label_smoothing = number_of(o, "labelSmoothing", options.label_smoothing);
  options.max_grad_norm = number_of(o, "maxGradNorm", options.max_grad_norm);
  const double accumulation = number_of(o, "accumulationSteps", 1.0);
  if (accumulation < 1 || accumulation != static_cast<double>(static_cast<int64_t>(accumulation))) {
    throw InvalidValue("expected an integer >= 1 for accumulationSteps, received " + std::to_string(accumulation));
  }
  options.accumulation_steps = static_cast<int64_t>(accumulation);
  options.apply_update = boolean_of(o, "applyUpdate", true);
  options.stop_requested = boolean_of(o, "stopRequested", false);
  if (o.Has("autocast")) options.autocast = autocast_from_js(o.Get("autocast"));
  return options;
}

}  // namespace vitorch::binding
