// The allowlist of Python globals a state dict pickle may name.
//
// A pickle can name any importable callable (GLOBAL 'os system') and call it (REDUCE); Python's own unpickler
// would run it. Here a global is looked up in this list when the GLOBAL / STACK_GLOBAL opcode is read, before
// anything else happens, and refused by name otherwise, so a hostile checkpoint can do nothing but fail.
#pragma once

#include <optional>
#include <string>

#include "checkpoint/pickle_value.h"

namespace vitorch::checkpoint {

struct GlobalMeaning {
  AllowedGlobal global;
  c10::ScalarType storage_dtype = c10::ScalarType::Undefined;  // for AllowedGlobal::kStorageType
};

// What `module`.`name` means, or nullopt if it is not allowed.
std::optional<GlobalMeaning> find_allowed_global(const std::string& module, const std::string& name);

// "FloatStorage" for float32 etc. (the torch.<X>Storage class torch.save names for a dtype); nullptr for a dtype
// vitorch does not support. The writer (pickle_writer.cc) names storages from the same table the reader accepts.
const char* torch_storage_type_name(c10::ScalarType dtype);

// The reason a global is refused, for the error message: says which globals are allowed, and for
// torch.<X>Storage that the dtype is not supported rather than that the name is unknown.
std::string refusal_reason(const std::string& module, const std::string& name);

}  // namespace vitorch::checkpoint
