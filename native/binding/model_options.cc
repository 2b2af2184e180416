#include "binding/model_options.h"

#include "binding/typed_array_conversion.h"
#include "common/errors.h"

namespace vitorch::binding {
namespace {

Napi::Object options_object(const Napi::Value& value) {
  if (value.IsUndefined()) return Napi::Object::New(value.Env());
  if (!value.IsObject()) throw InvalidType("expected an options object");
  return value.As<Napi::Object>();
}

template <typename Apply>
void number_option(const Napi::Object& options, const char* key, Apply&& apply) {
  if (!options.Has(key)) return;
  Napi::Value value = options.Get(key);
  if (value.IsUndefined()) return;
  if (!value.IsNumber()) throw InvalidType(std::string("expected a number for ") + key);
  apply(value.As<Napi::Number>().DoubleValue());
}

template <typename Apply>
void integer_option(const Napi::Object& options, const char* key, Apply&& apply) {
  number_option(options, key, [&](double number) {
    if (number != static_cast<double>(static_cast<int64_t>(number))) {
      throw InvalidValue(std::string("expected an integer for ") + key + ", received " + std::to_string(number));
    }
    apply(static_cast<int64_t>(number));
  });
}

}  // namespace

model::Activation activation_from_js(const Napi::Value& value) {
  if (!value.IsString()) throw InvalidType("expected 'gelu-tanh' or 'gelu' for activation");
  const auto name = value.As<Napi::String>().Utf8Value();
  if (name == "gelu-tanh") return model::Activation::kGeluTanh;
  if (name == "gelu") return model::Activation::kGelu;
  throw InvalidValue("expected 'gelu-tanh' or 'gelu' for activation, received '" + name + "'");
}

const char* activation_to_js(model::Activation activation) {
  return activation == model::Activation::kGelu ? "gelu" : "gelu-tanh";
}

model::VisionTransformerOptions vision_transformer_options(const Napi::Value& value) {
  const auto options = options_object(value);
  model::VisionTransformerOptions result;
  if (options.Has("inputShape") && !options.Get("inputShape").IsUndefined()) {
    result.input_shape(shape_from_js(options.Get("inputShape"), "inputShape"));
  }
  integer_option(options, "patchSize", [&](int64_t v) { result.patch_size(v); });
  integer_option(options, "inChans", [&](int64_t v) { result.in_chans(v); });
  integer_option(options, "numClasses", [&](int64_t v) { result.num_classes(v); });
  integer_option(options, "numFeatures", [&](int64_t v) { result.num_features(v); });
  integer_option(options, "depth", [&](int64_t v) { result.depth(v); });
  integer_option(options, "numHeads", [&](int64_t v) { result.num_heads(v); });
  number_option(options, "mlpRatio", [&](double v) { result.mlp_ratio(v); });
  number_option(options, "dropRate", [&](double v) { result.drop_rate(v); });
  number_option(options, "attnDropRate", [&](double v) { result.attn_drop_rate(v); });
  number_option(options, "dropPathRate", [&](double v) { result.drop_path_rate(v); });
  if (options.Has("qkvBias") && !options.Get("qkvBias").IsUndefined()) {
    if (!options.Get("qkvBias").IsBoolean()) throw InvalidType("expected a boolean for qkvBias");
    result.qkv_bias(options.Get("qkvBias").As<Napi::Boolean>());
  }
  number_option(options, "layerNormEps", [&](double v) { result.layer_norm_eps(v); });
  if (options.Has("activation") && !options.Get("activation").IsUndefined()) {
    result.activation(activation_from_js(options.Get("activation")));
  }
  model::validate(result);
  return result;
}

model::ModelLoadOptions model_load_options(const Napi::Value& value) {
  const auto options = options_object(value);
  model::ModelLoadOptions result;
  auto flag = [&](const char* key, bool& target) {
    if (!options.Has(key) || options.Get(key).IsUndefined()) return;
    if (!options.Get(key).IsBoolean()) throw InvalidType(std::string("expected a boolean for ") + key);
    target = options.Get(key).As<Napi::Boolean>();
  };
  flag("strict", result.strict);
  flag("resamplePosEmbed", result.adaptation.resample_pos_embed);
  flag("keepModelHead", result.adaptation.keep_model_head);
  flag("skipUnknownGlobals", result.read.skip_unknown_globals);
  return result;
}

model::VitFactoryOptions vit_factory_options(const Napi::Value& value) {
  const auto options = options_object(value);
  model::VitFactoryOptions result;
  if (options.Has("inputShape") && !options.Get("inputShape").IsUndefined()) {
    result.input_shape = shape_from_js(options.Get("inputShape"), "inputShape");
  }
  integer_option(options, "numClasses", [&](int64_t v) { result.num_classes = v; });
  if (options.Has("pretrained")) {
    Napi::Value pretrained = options.Get("pretrained");
    if (pretrained.IsString()) {
      result.pretrained = pretrained.As<Napi::String>().Utf8Value();
    } else if (!pretrained.IsUndefined() && !pretrained.IsNull() &&
               !(pretrained.IsBoolean() && !pretrained.As<Napi::Boolean>())) {
      throw InvalidType("expected a checkpoint path (string) or false for pretrained");
    }
  }
  // The factory's model has every other option at its default; validate the ones the user chose.
  model::validate(model::VisionTransformerOptions().input_shape(result.input_shape).num_classes(result.num_classes));
  return result;
}

}  // namespace vitorch::binding
