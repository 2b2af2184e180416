// How native code names shapes, dtypes and devices in messages, in the words the JavaScript API uses
// ("[1, 3, 224, 224]", "float32", "bfloat16"), so an error reads the same whichever layer raised it.
#pragma once

#include <c10/core/ScalarType.h>
#include <c10/util/ArrayRef.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace vitorch {

std::string format_shape(c10::IntArrayRef shape);

// A number as a message shows it: the shortest of "0.1", "1e-05", "3" that std::ostream's default format gives.
std::string format_number(double value);

// "float32", "float64", "float16", "bfloat16", "int64", "int32", "int16", "int8", "uint8", "bool".
const char* dtype_name(c10::ScalarType dtype);

// The inverse of dtype_name; nullopt for a name vitorch does not support.
std::optional<c10::ScalarType> dtype_from_name(std::string_view name);

}  // namespace vitorch
