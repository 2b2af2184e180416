// Emitting the state-dict pickle opcode by opcode, choosing the same encodings as CPython's protocol-2 pickler
// (smallest integer opcode, TUPLE1/2/3 for short tuples, BINUNICODE for str).
#include "checkpoint/pickle_writer.h"

#include <array>
#include <cstdint>
#include <utility>
#include <vector>

#include "checkpoint/allowed_globals.h"
#include "checkpoint/pickle_opcodes.h"

namespace vitorch::checkpoint {

namespace {

class PickleEmitter {
 public:
  void opcode(unsigned char op) { out_ += static_cast<char>(op); }

  void protocol(unsigned char version) {
    opcode(pickle_op::kProto);
    out_ += static_cast<char>(version);
  }

  // GLOBAL takes the module and the name as newline-terminated text.
  void global(const std::string& module, const std::string& name) {
    opcode(pickle_op::kGlobal);
    out_ += module;
    out_ += '\n';
    out_ += name;
    out_ += '\n';
  }

  void string(const std::string& utf8) {
    opcode(pickle_op::kBinUnicode);
    little_endian(utf8.size(), 4);
    out_ += utf8;
  }

  void integer(int64_t value) {
    if (value >= 0 && value <= 0xFF) {
      opcode(pickle_op::kBinInt1);
      little_endian(static_cast<uint64_t>(value), 1);
    } else if (value >= 0 && value <= 0xFFFF) {
      opcode(pickle_op::kBinInt2);
      little_endian(static_cast<uint64_t>(value), 2);
    } else if (value >= INT32_MIN && value <= INT32_MAX) {
      opcode(pickle_op::kBinInt);
      little_endian(static_cast<uint64_t>(static_cast<uint32_t>(static_cast<int32_t>(value))), 4);
    } else {
      // LONG1: a length byte, then the two's complement value in as few little-endian bytes as keep its sign.
      std::array<unsigned char, 8> bytes{};
      for (size_t i = 0; i < bytes.size(); ++i) {
        bytes[i] = static_cast<unsigned char>(static_cast<uint64_t>(value) >> (8 * i));
      }
      size_t length = bytes.size();
      while (length > 1) {
        const bool top_redundant = (bytes[length - 1] == 0x00 && !(bytes[length - 2] & 0x80)) ||
                                   (bytes[length - 1] == 0xFF && (bytes[length - 2] & 0x80));
        if (!top_redundant) break;
        --length;
      }
      opcode(pickle_op::kLong1);
      out_ += static_cast<char>(length);
      out_.append(reinterpret_cast<const char*>(bytes.data()), length);
    }
  }

  // A tuple of the given integers; short tuples have their own opcodes and need no MARK.
  void integer_tuple(const std::vector<int64_t>& values) {
    if (values.empty()) {
      opcode(pickle_op::kEmptyTuple);
      return;
    }
    if (values.size() > 3) opcode(pickle_op::kMark);
    for (const int64_t value : values) integer(value);
    switch (values.size()) {
      case 1: opcode(pickle_op::kTuple1); break;
      case 2: opcode(pickle_op::kTuple2); break;
      case 3: opcode(pickle_op::kTuple3); break;
      default: opcode(pickle_op::kTuple); break;
    }
  }

  std::string take() { return std::move(out_); }

 private:
  void little_endian(uint64_t value, int count) {
    for (int i = 0; i < count; ++i) out_ += static_cast<char>((value >> (8 * i)) & 0xFF);
  }

  std::string out_;
};

// The strides of a contiguous (row-major) tensor of these sizes, as torch computes them: a dimension of size 0
// counts as 1, so a zero-element tensor still gets the strides torch.empty would give it.
std::vector<int64_t> row_major_strides(c10::IntArrayRef sizes) {
  std::vector<int64_t> strides(sizes.size());
  int64_t stride = 1;
  for (size_t i = sizes.size(); i-- > 0;) {
    strides[i] = stride;
    stride *= sizes[i] > 1 ? sizes[i] : 1;
  }
  return strides;
}

}  // namespace

std::string pickle_state_dict(const NamedTensors& tensors) {
  PickleEmitter pickle;
  pickle.protocol(2);
  pickle.global("collections", "OrderedDict");
  pickle.opcode(pickle_op::kEmptyTuple);
  pickle.opcode(pickle_op::kReduce);

  pickle.opcode(pickle_op::kMark);  // the items, added to the dict by SETITEMS at the end
  for (size_t index = 0; index < tensors.size(); ++index) {
    const auto& [name, tensor] = tensors[index];
    pickle.string(name);

    pickle.global("torch._utils", "_rebuild_tensor_v2");
    pickle.opcode(pickle_op::kMark);  // its argument tuple
    // The persistent id naming the storage; torch.load resolves it to the record data/<key>.
    pickle.opcode(pickle_op::kMark);
    pickle.string("storage");
    pickle.global("torch", torch_storage_type_name(tensor.scalar_type()));
    pickle.string(std::to_string(index));
    pickle.string("cpu");
    pickle.integer(tensor.numel());
    pickle.opcode(pickle_op::kTuple);
    pickle.opcode(pickle_op::kBinPersId);

    pickle.integer(0);  // storage offset
    pickle.integer_tuple(tensor.sizes().vec());
    pickle.integer_tuple(row_major_strides(tensor.sizes()));
    pickle.opcode(pickle_op::kNewFalse);          // requires_grad: a state dict holds plain tensors
    pickle.global("collections", "OrderedDict");  // backward hooks: none
    pickle.opcode(pickle_op::kEmptyTuple);
    pickle.opcode(pickle_op::kReduce);
    pickle.opcode(pickle_op::kTuple);
    pickle.opcode(pickle_op::kReduce);
  }
  pickle.opcode(pickle_op::kSetItems);
  pickle.opcode(pickle_op::kStop);
  return pickle.take();
}

}  // namespace vitorch::checkpoint
