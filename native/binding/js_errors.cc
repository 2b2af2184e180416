#include "binding/js_errors.h"

#include <c10/util/Exception.h>

#include "binding/addon_data.h"
#include "common/errors.h"

namespace vitorch::binding {

CapturedError capture_current_exception() {
  using Kind = CapturedError::Kind;
  try {
    throw;
  } catch (const InvalidType& error) {
    return {Kind::Type, error.what()};
  } catch (const InvalidValue& error) {
    return {Kind::Range, error.what()};
  } catch (const CheckpointError& error) {
    return {Kind::Checkpoint, error.what()};
  } catch (const StateDictError& error) {
    return {Kind::StateDict, error.what()};
  } catch (const DistributedError& error) {
    return {Kind::Distributed, error.what()};
  } catch (const UseAfterDispose& error) {
    return {Kind::Disposed, error.what()};
  } catch (const c10::Error& error) {
    // libtorch's what() carries a C++ backtrace that means nothing to a JS user.
    return {Kind::Runtime, error.what_without_backtrace()};
  } catch (const std::bad_alloc&) {
    return {Kind::Runtime, "out of memory"};
  } catch (const std::exception& error) {
    return {Kind::Runtime, error.what()};
  } catch (...) {
    return {Kind::Runtime, "unknown native error"};
  }
}

namespace {

Napi::Error construct(Napi::Env env, Napi::FunctionReference& constructor, const std::string& message) {
  return Napi::Error(env, constructor.New({Napi::String::New(env, message)}));
}

}  // namespace

Napi::Error to_js_error(Napi::Env env, const CapturedError& error) {
  using Kind = CapturedError::Kind;
  auto& data = addon_data(env);
  if (data.plain_error.IsEmpty()) {
    // Before lib/binding.ts registered its classes (only a direct user of the raw addon sees this).
    if (error.kind == Kind::Type) return Napi::TypeError::New(env, error.message);
    if (error.kind == Kind::Range) return Napi::RangeError::New(env, error.message);
    return Napi::Error::New(env, error.message);
  }
  switch (error.kind) {
    case Kind::Type: return construct(env, data.type_error, error.message);
    case Kind::Range: return construct(env, data.range_error, error.message);
    case Kind::Checkpoint: return construct(env, data.checkpoint_error, error.message);
    case Kind::StateDict: return construct(env, data.state_dict_error, error.message);
    case Kind::Disposed: return construct(env, data.disposed_error, error.message);
    case Kind::Distributed: return construct(env, data.distributed_error, error.message);
    default: return construct(env, data.plain_error, error.message);
  }
}

}  // namespace vitorch::binding
