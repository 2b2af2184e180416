// One registration function per concept; native/addon.cc calls each once.
#pragma once

#include <napi.h>

namespace vitorch::binding {

void register_errors(Napi::Env env, Napi::Object exports);      // registerErrorClasses
void register_runtime(Napi::Env env, Napi::Object exports);     // threads, CUDA, versions
void register_tensor(Napi::Env env, Napi::Object exports);      // NativeTensor, tensorFromTypedArray
void register_model(Napi::Env env, Napi::Object exports);       // NativeVisionTransformer, vit, vitAsync
void register_checkpoint(Napi::Env env, Napi::Object exports);  // load/saveCheckpoint(Async)
void register_training(Napi::Env env, Napi::Object exports);  // NativeTrainingSession, crossEntropy, noGrad, manualSeed
void register_distributed(Napi::Env env, Napi::Object exports);  // NativeProcessGroup
void register_attention(Napi::Env env, Napi::Object exports);    // attentionRollout of given maps

}  // namespace vitorch::binding
