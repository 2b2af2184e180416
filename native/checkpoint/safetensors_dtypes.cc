#include "checkpoint/safetensors_dtypes.h"

#include <array>
#include <utility>

namespace vitorch::checkpoint {
namespace {

constexpr std::array<std::pair<c10::ScalarType, const char*>, 10> kCodes{{
    {c10::ScalarType::Float, "F32"},
    {c10::ScalarType::Half, "F16"},
    {c10::ScalarType::BFloat16, "BF16"},
    {c10::ScalarType::Double, "F64"},
    {c10::ScalarType::Long, "I64"},
    {c10::ScalarType::Int, "I32"},
    {c10::ScalarType::Short, "I16"},
    {c10::ScalarType::Char, "I8"},
    {c10::ScalarType::Byte, "U8"},
    {c10::ScalarType::Bool, "BOOL"},
}};

}  // namespace

const char* const kSupportedSafetensorsCodes = "F32, F16, BF16, F64, I64, I32, I16, I8, U8, BOOL";

const char* safetensors_dtype_code(c10::ScalarType dtype) {
  for (const auto& [type, code] : kCodes) {
    if (type == dtype) return code;
  }
  return nullptr;
}

std::optional<c10::ScalarType> dtype_from_safetensors_code(std::string_view code) {
  for (const auto& [type, known] : kCodes) {
    if (code == known) return type;
  }
  return std::nullopt;
}

}  // namespace vitorch::checkpoint
