// Reading lib/train/optimizer.ts's and lib/train/trainer.ts's option objects into native/train's structs.
// lib/ has validated every user argument; this re-checks types cheaply so that misuse of the raw binding is an error.
#pragma once

#include <napi.h>

#include "train/optimizer_spec.h"
#include "train/training_session.h"

namespace vitorch::binding {

// { kind, lr, weightDecay, momentum, dampening, nesterov, betas, eps, amsgrad, fused, groups: [{ names, weightDecay?,
// lrScale? }] }
train::OptimizerSpec optimizer_spec_from_js(const Napi::Value& value);

// { labelSmoothing, maxGradNorm, accumulationSteps, applyUpdate, autocast: 'bfloat16' | 'float16' | null }
train::StepOptions step_options_from_js(const Napi::Value& value);

// 'bfloat16' | 'float16' | null/undefined
std::optional<c10::ScalarType> autocast_from_js(const Napi::Value& value);

}  // namespace vitorch::binding
