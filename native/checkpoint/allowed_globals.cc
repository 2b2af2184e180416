// The allowlist itself: the exact (module, name) pairs torch.save writes for a dict of tensors.
#include "checkpoint/allowed_globals.h"

#include <array>

#include "checkpoint/message_text.h"

namespace vitorch::checkpoint {

namespace {

struct StorageTypeName {
  const char* name;  // in module "torch"
  c10::ScalarType dtype;
};

// The typed-storage classes torch.save names for each dtype (it still writes these, not UntypedStorage).
constexpr std::array<StorageTypeName, 10> kStorageTypes{{
    {"FloatStorage", c10::ScalarType::Float},
    {"DoubleStorage", c10::ScalarType::Double},
    {"HalfStorage", c10::ScalarType::Half},
    {"BFloat16Storage", c10::ScalarType::BFloat16},
    {"LongStorage", c10::ScalarType::Long},
    {"IntStorage", c10::ScalarType::Int},
    {"ShortStorage", c10::ScalarType::Short},
    {"CharStorage", c10::ScalarType::Char},
    {"ByteStorage", c10::ScalarType::Byte},
    {"BoolStorage", c10::ScalarType::Bool},
}};

const char* const kAllowedSummary =
    "collections.OrderedDict, torch._utils._rebuild_tensor_v2, torch._utils._rebuild_tensor, "
    "torch._utils._rebuild_parameter, torch._utils._rebuild_parameter_with_state and "
    "torch.{Float,Double,Half,BFloat16,Long,Int,Short,Char,Byte,Bool}Storage";

}  // namespace

std::optional<GlobalMeaning> find_allowed_global(const std::string& module, const std::string& name) {
  if (module == "collections" && name == "OrderedDict") return GlobalMeaning{AllowedGlobal::kOrderedDict};
  if (module == "torch._utils") {
    if (name == "_rebuild_tensor_v2") return GlobalMeaning{AllowedGlobal::kRebuildTensorV2};
    if (name == "_rebuild_tensor") return GlobalMeaning{AllowedGlobal::kRebuildTensor};
    if (name == "_rebuild_parameter") return GlobalMeaning{AllowedGlobal::kRebuildParameter};
    if (name == "_rebuild_parameter_with_state") return GlobalMeaning{AllowedGlobal::kRebuildParameterWithState};
  }
  if (module == "torch") {
    for (const auto& storage : kStorageTypes) {
      if (name == storage.name) return GlobalMeaning{AllowedGlobal::kStorageType, storage.dtype};
    }
  }
  return std::nullopt;
}

const char* torch_storage_type_name(c10::ScalarType dtype) {
  for (const auto& storage : kStorageTypes) {
    if (storage.dtype == dtype) return storage.name;
  }
  return nullptr;
}

std::string refusal_reason(const std::string& module, const std::string& name) {
  const std::string full_name = printable(module + "." + name);
  const std::string storage_suffix = "Storage";
  if (module == "torch" && name.size() > storage_suffix.size() &&
      name.compare(name.size() - storage_suffix.size(), storage_suffix.size(), storage_suffix) == 0) {
    return "unsupported storage type '" + full_name +
           "': only float32, float64, float16, bfloat16, int64, int32, int16, int8, uint8 and bool tensors can "
           "be loaded";
  }
  std::string reason = "refusing to load global '" + full_name +
                       "': only the globals a state dict needs are allowed (" + kAllowedSummary + ")";
  if (module.rfind("__torch__", 0) == 0) {
    reason += "; this looks like a TorchScript file (torch.jit.save), which is not a state dict";
  }
  return reason;
}

}  // namespace vitorch::checkpoint
