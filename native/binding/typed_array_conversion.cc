#include "binding/typed_array_conversion.h"

#include <cstring>

#include "common/describe.h"
#include "common/errors.h"

namespace vitorch::binding {
namespace {

c10::ScalarType natural_dtype(napi_typedarray_type type) {
  switch (type) {
    case napi_float32_array: return torch::kFloat32;
    case napi_float64_array: return torch::kFloat64;
    case napi_int32_array: return torch::kInt32;
    case napi_bigint64_array: return torch::kInt64;
    case napi_int16_array: return torch::kInt16;
    case napi_int8_array: return torch::kInt8;
    case napi_uint8_array: return torch::kUInt8;
    case napi_uint8_clamped_array: return torch::kUInt8;
    case napi_uint16_array: return torch::kFloat16;  // only with an explicit float16 / bfloat16 dtype, see below
    default:
      throw InvalidType(
          "expected a Float32Array, Float64Array, Int32Array, BigInt64Array, Int16Array, Int8Array, "
          "Uint8Array or (with dtype 'float16' or 'bfloat16') Uint16Array");
  }
}

const char* array_name(napi_typedarray_type type) {
  switch (type) {
    case napi_float32_array: return "Float32Array";
    case napi_float64_array: return "Float64Array";
    case napi_int32_array: return "Int32Array";
    case napi_bigint64_array: return "BigInt64Array";
    case napi_int16_array: return "Int16Array";
    case napi_int8_array: return "Int8Array";
    case napi_uint8_array: return "Uint8Array";
    case napi_uint8_clamped_array: return "Uint8ClampedArray";
    case napi_uint16_array: return "Uint16Array";
    case napi_uint32_array: return "Uint32Array";
    case napi_biguint64_array: return "BigUint64Array";
    default: return "TypedArray";
  }
}

}  // namespace

std::vector<int64_t> shape_from_js(const Napi::Value& value, const char* what) {
  if (!value.IsArray()) throw InvalidType(std::string("expected an array of sizes for ") + what);
  auto array = value.As<Napi::Array>();
  std::vector<int64_t> shape;
  for (uint32_t i = 0; i < array.Length(); ++i) {
    Napi::Value size = array.Get(i);
    if (!size.IsNumber()) throw InvalidType(std::string("expected integer sizes for ") + what);
    const double number = size.As<Napi::Number>().DoubleValue();
    if (number < 0 || number != static_cast<double>(static_cast<int64_t>(number))) {
      throw InvalidValue(std::string("expected non-negative integer sizes for ") + what);
    }
    shape.push_back(static_cast<int64_t>(number));
  }
  return shape;
}

torch::Tensor tensor_from_typed_array(const Napi::TypedArray& array, const std::vector<int64_t>& shape,
                                      std::optional<c10::ScalarType> source_dtype,
                                      std::optional<c10::ScalarType> target_dtype) {
  const auto array_type = array.TypedArrayType();
  const bool raw_half_bits = array_type == napi_uint16_array;
  if (raw_half_bits && !(source_dtype == torch::kFloat16 || source_dtype == torch::kBFloat16)) {
    throw InvalidType("a Uint16Array holds float16 or bfloat16 bits: pass dtype 'float16' or 'bfloat16'");
  }
  // A Uint8Array with another source dtype holds that dtype's raw bytes in host order (a binary request's body):
  // the tensor is made from them in one copy, whatever their alignment.
  const bool raw_bytes = array_type == napi_uint8_array && source_dtype && *source_dtype != torch::kUInt8;
  const auto read_as = raw_half_bits || raw_bytes ? *source_dtype : natural_dtype(array_type);

  int64_t numel = 1;
  for (auto size : shape) {
    if (size != 0 && numel > std::numeric_limits<int64_t>::max() / size) {
      throw InvalidValue("shape " + format_shape(shape) + " has too many elements");
    }
    numel *= size;
  }
  if (raw_bytes) {
    const auto element_size = static_cast<int64_t>(c10::elementSize(read_as));
    if (static_cast<int64_t>(array.ByteLength()) != numel * element_size) {
      throw InvalidValue("expected " + std::to_string(numel * element_size) + " bytes (" + std::to_string(numel) +
                         " elements) for shape " + format_shape(shape) + ", received a Uint8Array of " +
                         std::to_string(array.ByteLength()));
    }
  } else if (static_cast<int64_t>(array.ElementLength()) != numel) {
    throw InvalidValue("expected " + std::to_string(numel) + " elements for shape " + format_shape(shape) +
                       ", received a " + array_name(array_type) + " of " + std::to_string(array.ElementLength()));
  }
  auto tensor = torch::empty(shape, torch::TensorOptions().dtype(read_as));
  const auto* source = static_cast<const uint8_t*>(array.ArrayBuffer().Data()) + array.ByteOffset();
  if (numel > 0) std::memcpy(tensor.data_ptr(), source, array.ByteLength());
  const auto wanted = target_dtype.value_or(read_as);
  return wanted == read_as ? tensor : tensor.to(wanted);
}

Napi::TypedArray typed_array_from_tensor(Napi::Env env, const torch::Tensor& tensor) {
  auto host = tensor.detach().to(torch::kCPU).contiguous();
  napi_typedarray_type type;
  switch (host.scalar_type()) {
    case torch::kFloat32: type = napi_float32_array; break;
    case torch::kFloat64: type = napi_float64_array; break;
    case torch::kInt64: type = napi_bigint64_array; break;
    case torch::kInt32: type = napi_int32_array; break;
    case torch::kInt16: type = napi_int16_array; break;
    case torch::kInt8: type = napi_int8_array; break;
    case torch::kUInt8:
    case torch::kBool: type = napi_uint8_array; break;
    case torch::kFloat16:
    case torch::kBFloat16: type = napi_uint16_array; break;
    default:
      throw InvalidType(std::string("tensors of dtype ") + dtype_name(host.scalar_type()) +
                        " cannot be copied to a TypedArray");
  }
  const size_t bytes = host.nbytes();
  auto buffer = Napi::ArrayBuffer::New(env, bytes);
  if (bytes > 0) std::memcpy(buffer.Data(), host.data_ptr(), bytes);
  const size_t length = static_cast<size_t>(host.numel());
  switch (type) {
    case napi_float32_array: return Napi::Float32Array::New(env, length, buffer, 0);
    case napi_float64_array: return Napi::Float64Array::New(env, length, buffer, 0);
    case napi_bigint64_array: return Napi::BigInt64Array::New(env, length, buffer, 0);
    case napi_int32_array: return Napi::Int32Array::New(env, length, buffer, 0);
    case napi_int16_array: return Napi::Int16Array::New(env, length, buffer, 0);
    case napi_int8_array: return Napi::Int8Array::New(env, length, buffer, 0);
    case napi_uint16_array: return Napi::Uint16Array::New(env, length, buffer, 0);
    default: return Napi::Uint8Array::New(env, length, buffer, 0);
  }
}

}  // namespace vitorch::binding
