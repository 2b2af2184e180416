#include "common/describe.h"

#include <array>
#include <sstream>
#include <utility>

namespace vitorch {
namespace {

constexpr std::array<std::pair<const char*, c10::ScalarType>, 10> kDtypeNames{{
    {"float32", c10::ScalarType::Float},
    {"float64", c10::ScalarType::Double},
    {"float16", c10::ScalarType::Half},
    {"bfloat16", c10::ScalarType::BFloat16},
    {"int64", c10::ScalarType::Long},
    {"int32", c10::ScalarType::Int},
    {"int16", c10::ScalarType::Short},
    {"int8", c10::ScalarType::Char},
    {"uint8", c10::ScalarType::Byte},
    {"bool", c10::ScalarType::Bool},
}};

}  // namespace

std::string format_shape(c10::IntArrayRef shape) {
  std::string text = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) text += ", ";
    text += std::to_string(shape[i]);
  }
  return text + "]";
}

std::string format_number(double value) {
  std::ostringstream out;
  out << value;
  return out.str();
}

const char* dtype_name(c10::ScalarType dtype) {
  for (const auto& [name, type] : kDtypeNames) {
    if (type == dtype) return name;
  }
  return c10::toString(dtype);
}

std::optional<c10::ScalarType> dtype_from_name(std::string_view name) {
  for (const auto& [known, type] : kDtypeNames) {
    if (name == known) return type;
  }
  return std::nullopt;
}

}  // namespace vitorch
