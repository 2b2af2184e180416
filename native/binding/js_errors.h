// The one place where C++ exceptions become JavaScript errors (see native/common/errors.h for the mapping).
// Every N-API entry point runs its body through with_js_errors, so no C++ exception reaches Node unconverted.
#pragma once

#include <napi.h>

#include <exception>
#include <string>

namespace vitorch::binding {

// A failure captured on a worker thread, to be turned into a JS error on the main thread.
struct CapturedError {
  enum class Kind { None, Type, Range, Checkpoint, StateDict, Disposed, Distributed, Runtime };
  Kind kind = Kind::None;
  std::string message;
  explicit operator bool() const { return kind != Kind::None; }
};

// Classifies the exception currently being handled (call inside a catch block).
CapturedError capture_current_exception();

Napi::Error to_js_error(Napi::Env env, const CapturedError& error);

// Thrown by native methods of a disposed object; becomes lib/errors.ts's DisposedError.
class UseAfterDispose : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

template <typename Body>
auto with_js_errors(Napi::Env env, Body&& body) -> decltype(body()) {
  try {
    return body();
  } catch (const Napi::Error&) {
    throw;
  } catch (...) {
    throw to_js_error(env, capture_current_exception());
  }
}

}  // namespace vitorch::binding
