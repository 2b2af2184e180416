// The dtype codes of the safetensors header ("F32", "BF16", ...), one table for the reader and the writer.
#pragma once

#include <c10/core/ScalarType.h>

#include <optional>
#include <string_view>

namespace vitorch::checkpoint {

// "F32" for float32 etc.; nullptr for a dtype vitorch does not support.
const char* safetensors_dtype_code(c10::ScalarType dtype);

// float32 for "F32" etc.; nullopt for a code vitorch does not support.
std::optional<c10::ScalarType> dtype_from_safetensors_code(std::string_view code);

// The supported codes, for messages: "F32, F16, BF16, F64, I64, I32, I16, I8, U8, BOOL".
extern const char* const kSupportedSafetensorsCodes;

}  // namespace vitorch::checkpoint
