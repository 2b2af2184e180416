// Reading the camelCase option objects of lib/model.ts into the native option structs. lib/validate.ts has
// already checked every user argument; this re-checks types only, cheaply, so a misuse of the raw binding is an
// error rather than undefined behaviour.
#pragma once

#include <napi.h>

#include "model/checkpoint_adaptation.h"
#include "model/vision_transformer.h"
#include "model/vit_factory.h"

namespace vitorch::binding {

model::VisionTransformerOptions vision_transformer_options(const Napi::Value& value);
// The activation option's names: 'gelu-tanh' (the seed's) and 'gelu' (the exact, erf form).
model::Activation activation_from_js(const Napi::Value& value);
const char* activation_to_js(model::Activation activation);
model::VitFactoryOptions vit_factory_options(const Napi::Value& value);
// { strict, resamplePosEmbed, keepModelHead, skipUnknownGlobals } of loadStateDict.
model::ModelLoadOptions model_load_options(const Napi::Value& value);

}  // namespace vitorch::binding
