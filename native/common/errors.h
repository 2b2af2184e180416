// The exception types native code throws. The N-API boundary (native/binding/js_errors.h) turns each
// into its JavaScript counterpart, so a C++ failure reaches the user as a typed, readable JS error:
//   InvalidType     -> TypeError       (an argument of the wrong kind, e.g. a float tensor where int64 is needed)
//   InvalidValue    -> RangeError      (right kind, wrong value: a shape, a size, an out-of-range option)
//   CheckpointError -> CheckpointError (a file that is missing, unreadable, corrupt, hostile or not a checkpoint)
//   StateDictError  -> StateDictError  (a checkpoint that does not fit the model: missing/unexpected/mismatched keys)
//   DistributedError -> DistributedError (a data-parallel job failed: a peer lost, a collective timed out, no
//   rendezvous)
// Anything else (c10::Error, std::exception) becomes a plain Error.
// This header is free of napi.h, as is all of the core library (native/{model,checkpoint,train,runtime,common}),
// which builds and is tested without Node.
#pragma once

#include <stdexcept>
#include <string>

namespace vitorch {

class InvalidType : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class InvalidValue : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class CheckpointError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class StateDictError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class DistributedError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace vitorch
