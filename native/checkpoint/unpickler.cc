// The pickle VM (see unpickler.h). Opcode semantics follow CPython's Lib/pickle.py; in particular MARK starts a
// fresh stack (the "metastack"), so no opcode may pop below the most recent MARK.
#include "checkpoint/unpickler.h"

#include <cstdio>
#include <cstring>
#include <unordered_map>
#include <vector>

#include "checkpoint/allowed_globals.h"
#include "checkpoint/message_text.h"
#include "checkpoint/pickle_opcodes.h"
#include "checkpoint/skipped_globals.h"
#include "common/errors.h"

namespace vitorch::checkpoint {

namespace {

// Limits that no real state dict comes near (one tensor costs about 20 values and 10 memo entries, so these allow
// some 100k tensors) but that keep a hostile pickle from turning a few megabytes of opcodes into gigabytes of
// memory: at about 112 bytes a value, the values cost at most ~230 MB, the stack 8 MB and the memo ~100 MB.
constexpr size_t kMaxValues = size_t{1} << 21;
constexpr size_t kMaxStackDepth = size_t{1} << 20;
constexpr size_t kMaxMarks = size_t{1} << 20;
constexpr size_t kMaxMemoEntries = size_t{1} << 21;
constexpr int kHighestProtocol = 5;
// Longer than any module or class name; bounds GLOBAL's newline-terminated arguments.
constexpr size_t kMaxLineLength = size_t{1} << 16;

std::string hex_byte(unsigned char byte) {
  char text[8];
  std::snprintf(text, sizeof text, "0x%02x", byte);
  return text;
}

class Machine {
 public:
  Machine(PickleInput& input, const UnpickleContext& context)
      : input_(input), context_(context), file_path_(context.file_path), values_(std::make_unique<PickleValues>()) {}

  UnpickledTree run() {
    while (true) {
      opcode_offset_ = input_.position();
      const unsigned char* next = input_.take(1);
      if (next == nullptr) corrupt("the pickle ends without a STOP opcode");
      const unsigned char opcode = *next;
      if (opcode == pickle_op::kStop) {
        UnpickledTree tree;
        tree.root = pop();
        tree.values = std::move(values_);
        tree.skipped_globals = skipped_.names();
        tree.skipped_globals_overflowed = skipped_.overflowed();
        return tree;
      }
      execute(opcode);
    }
  }

 private:
  // ---- errors ---------------------------------------------------------------------------------------------------

  [[noreturn]] void corrupt(const std::string& message) const {
    throw CheckpointError(file_path_ + ": corrupt pickle in " + context_.source + " at byte " +
                          std::to_string(opcode_offset_) + ": " + message);
  }

  [[noreturn]] void unsupported(const std::string& message) const {
    throw CheckpointError(file_path_ + ": " + context_.source + " at byte " + std::to_string(opcode_offset_) + ": " +
                          message);
  }

  // ---- reading the opcode stream --------------------------------------------------------------------------------

  const unsigned char* take(uint64_t count) {
    const unsigned char* start = input_.take(count);
    if (start == nullptr) {
      corrupt("the pickle ends in the middle of an opcode's argument (needs " + std::to_string(count) + " bytes, " +
              std::to_string(input_.remaining()) + " left)");
    }
    return start;
  }

  uint64_t read_unsigned(size_t width) {
    const unsigned char* p = take(width);
    uint64_t value = 0;
    for (size_t i = width; i-- > 0;) value = (value << 8) | p[i];
    return value;
  }

  // Little-endian two's complement of `width` bytes (LONG1 / LONG4).
  int64_t read_long(uint64_t width) {
    if (width > 8) {
      // Python writes the fewest bytes that hold the value, so more than 8 means it does not fit in int64.
      take(width);
      unsupported("integer of " + std::to_string(width) + " bytes does not fit in 64 bits");
    }
    if (width == 0) return 0;
    const unsigned char* p = take(width);
    uint64_t value = 0;
    for (size_t i = static_cast<size_t>(width); i-- > 0;) value = (value << 8) | p[i];
    if (width < 8 && (p[width - 1] & 0x80)) value |= ~uint64_t{0} << (8 * width);  // sign-extend
    int64_t result;
    std::memcpy(&result, &value, sizeof result);
    return result;
  }

  std::string read_text(uint64_t length) {
    const unsigned char* p = take(length);
    return std::string(reinterpret_cast<const char*>(p), static_cast<size_t>(length));
  }

  // A newline-terminated argument (GLOBAL's module and name).
  std::string read_line() {
    std::string line;
    while (true) {
      const unsigned char* next = input_.take(1);
      if (next == nullptr) corrupt("GLOBAL argument has no terminating newline");
      if (*next == '\n') return line;
      if (line.size() >= kMaxLineLength) {
        unsupported("GLOBAL argument is longer than " + std::to_string(kMaxLineLength) + " bytes");
      }
      line.push_back(static_cast<char>(*next));
    }
  }

  // ---- values ---------------------------------------------------------------------------------------------------

  PickleValue* make(PickleValue::Kind kind) {
    if (values_->size() >= kMaxValues) {
      unsupported("the pickle creates more than " + std::to_string(kMaxValues) +
                  " values, far more than any state dict; refusing to continue");
    }
    PickleValue& value = values_->emplace_back();
    value.kind = kind;
    return &value;
  }

  PickleValue* make_int(int64_t integer) {
    PickleValue* value = make(PickleValue::Kind::kInt);
    value->integer = integer;
    return value;
  }

  PickleValue* make_text(PickleValue::Kind kind, std::string text) {
    PickleValue* value = make(kind);
    value->text = std::move(text);
    return value;
  }

  PickleValue* make_tuple(std::vector<PickleValue*> items) {
    PickleValue* value = make(PickleValue::Kind::kTuple);
    value->items = std::move(items);
    return value;
  }

  void set_item(PickleValue* dict, PickleValue* key, PickleValue* value) {
    // Python replaces the value of an existing key in place. Keys are hashed by their text for str and int keys
    // (the only ones a state dict has); other keys are simply appended.
    std::string hash_key;
    if (key->kind == PickleValue::Kind::kString) {
      hash_key = "s" + key->text;
    } else if (key->kind == PickleValue::Kind::kInt) {
      hash_key = "i" + std::to_string(key->integer);
    } else {
      dict->entries.emplace_back(key, value);
      return;
    }
    if (!dict->key_positions) dict->key_positions = std::make_unique<std::unordered_map<std::string, size_t>>();
    const auto inserted = dict->key_positions->emplace(std::move(hash_key), dict->entries.size());
    if (inserted.second) {
      dict->entries.emplace_back(key, value);
    } else {
      dict->entries[inserted.first->second].second = value;
    }
  }

  // ---- the stack ------------------------------------------------------------------------------------------------

  size_t floor() const { return marks_.empty() ? 0 : marks_.back(); }

  void push(PickleValue* value) {
    if (stack_.size() >= kMaxStackDepth) {
      unsupported("the pickle stack grows past " + std::to_string(kMaxStackDepth) + " values; refusing to continue");
    }
    stack_.push_back(value);
  }

  PickleValue* top() const {
    if (stack_.size() <= floor()) corrupt("stack underflow");
    return stack_.back();
  }

  PickleValue* pop() {
    PickleValue* value = top();
    stack_.pop_back();
    return value;
  }

  std::vector<PickleValue*> pop_to_mark() {
    if (marks_.empty()) corrupt("no MARK to pop to");
    const size_t mark = marks_.back();
    marks_.pop_back();
    std::vector<PickleValue*> items(stack_.begin() + static_cast<std::ptrdiff_t>(mark), stack_.end());
    stack_.resize(mark);
    return items;
  }

  PickleValue* top_of_kind(PickleValue::Kind kind, const char* opcode_name) const {
    PickleValue* value = top();
    if (value->kind != kind) {
      corrupt(std::string(opcode_name) + " needs " + describe_kind(kind) + " below its arguments, found " +
              describe_kind(value->kind));
    }
    return value;
  }

  // ---- the memo -------------------------------------------------------------------------------------------------

  void memo_put(uint64_t index) {
    PickleValue* value = top();
    if (memo_.size() >= kMaxMemoEntries && memo_.find(index) == memo_.end()) {
      unsupported("the pickle memo grows past " + std::to_string(kMaxMemoEntries) + " entries; refusing to continue");
    }
    memo_[index] = value;
  }

  PickleValue* memo_get(uint64_t index) const {
    const auto found = memo_.find(index);
    if (found == memo_.end()) corrupt("memo entry " + std::to_string(index) + " was never stored");
    return found->second;
  }

  // ---- globals and calls ----------------------------------------------------------------------------------------

  PickleValue* make_global(const std::string& module, const std::string& name) {
    // Checked before anything else is done with the name.
    const std::optional<GlobalMeaning> meaning = find_allowed_global(module, name);
    if (!meaning && context_.skip_unknown_globals) {
      if (module.size() + 1 + name.size() > SkippedGlobals::kMaxNameLength) {
        unsupported("global name of " + std::to_string(module.size() + 1 + name.size()) + " bytes ('" +
                    printable(module + "." + name, 60) + "') is longer than " +
                    std::to_string(SkippedGlobals::kMaxNameLength) + " bytes; refusing to continue");
      }
      return skipped_.placeholder(module + "." + name, *values_);
    }
    if (!meaning) throw CheckpointError(file_path_ + ": " + refusal_reason(module, name));
    PickleValue* value = make_text(PickleValue::Kind::kGlobal, module + "." + name);
    value->global = meaning->global;
    value->storage_dtype = meaning->storage_dtype;
    return value;
  }

  // REDUCE / NEWOBJ: "call" an allowed global with a tuple of arguments.
  PickleValue* call(PickleValue* callable, PickleValue* arguments, const char* opcode_name) {
    if (callable->kind != PickleValue::Kind::kGlobal && callable->kind != PickleValue::Kind::kSkipped) {
      corrupt(std::string(opcode_name) + " needs a global to call, found " + describe_kind(callable->kind));
    }
    if (arguments->kind != PickleValue::Kind::kTuple) {
      corrupt(std::string(opcode_name) + " needs a tuple of arguments, found " + describe_kind(arguments->kind));
    }
    // Nothing is called: whatever an unknown global would make is the same inert placeholder, and the arguments,
    // parsed already, are dropped.
    if (callable->kind == PickleValue::Kind::kSkipped) return callable;
    const std::vector<PickleValue*>& args = arguments->items;
    const std::string& name = callable->text;
    switch (callable->global) {
      case AllowedGlobal::kOrderedDict:
        // torch.save pickles an OrderedDict as OrderedDict() followed by SETITEMS; items passed to the
        // constructor would need iterating arbitrary values, which no state dict does.
        if (!args.empty()) unsupported(name + " called with arguments; only OrderedDict() is supported");
        return make(PickleValue::Kind::kDict);
      case AllowedGlobal::kRebuildTensorV2:
        // (storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
        if (args.size() != 6 && args.size() != 7) wrong_argument_count(name, "6 or 7", args.size());
        return rebuild_tensor(name, args);
      case AllowedGlobal::kRebuildTensor:
        // (storage, storage_offset, size, stride)
        if (args.size() != 4) wrong_argument_count(name, "4", args.size());
        return rebuild_tensor(name, args);
      case AllowedGlobal::kRebuildParameter:
      case AllowedGlobal::kRebuildParameterWithState: {
        // (data, requires_grad, backward_hooks[, state]): a Parameter is loaded as its data tensor.
        const bool with_state = callable->global == AllowedGlobal::kRebuildParameterWithState;
        if (args.size() != (with_state ? 4u : 3u)) wrong_argument_count(name, with_state ? "4" : "3", args.size());
        if (args[0]->kind == PickleValue::Kind::kSkipped) return args[0];  // a tensor that was not made
        if (args[0]->kind != PickleValue::Kind::kTensor) {
          corrupt(name + " needs a tensor as its first argument, found " + describe_kind(args[0]->kind));
        }
        return args[0];
      }
      case AllowedGlobal::kStorageType: break;
    }
    unsupported("the pickle calls " + name + ", which torch.save never does");
  }

  [[noreturn]] void wrong_argument_count(const std::string& name, const char* expected, size_t found) const {
    corrupt(name + " needs " + expected + " arguments, found " + std::to_string(found));
  }

  int64_t int_argument(const PickleValue* value, const std::string& function, const char* what) const {
    if (value->kind != PickleValue::Kind::kInt) {
      corrupt(function + ": " + what + " must be an int, found " + describe_kind(value->kind));
    }
    return value->integer;
  }

  std::vector<int64_t> int_tuple_argument(const PickleValue* value, const std::string& function,
                                          const char* what) const {
    if (value->kind != PickleValue::Kind::kTuple) {
      corrupt(function + ": " + what + " must be a tuple of ints, found " + describe_kind(value->kind));
    }
    std::vector<int64_t> numbers;
    numbers.reserve(value->items.size());
    for (const PickleValue* item : value->items) numbers.push_back(int_argument(item, function, what));
    return numbers;
  }

  PickleValue* rebuild_tensor(const std::string& function, const std::vector<PickleValue*>& args) {
    const PickleValue* storage = args[0];
    // A placeholder in place of the storage (an unknown storage type, skipped) makes no tensor: the result is that
    // placeholder, so a state dict holding it fails by name rather than loading something else.
    if (storage->kind == PickleValue::Kind::kSkipped) return args[0];
    if (storage->kind != PickleValue::Kind::kStorage) {
      corrupt(function + ": the first argument must be a storage (a persistent id), found " +
              describe_kind(storage->kind));
    }
    int_argument(args[1], function, "storage_offset");
    int_tuple_argument(args[2], function, "size");
    int_tuple_argument(args[3], function, "stride");
    // requires_grad, backward_hooks and metadata do not matter for loading weights. The tensor is described, not
    // built (see tensor_ref()): its storage is loaded only if the reader keeps it.
    PickleValue* tensor = make(PickleValue::Kind::kTensor);
    tensor->items = {args[0], args[1], args[2], args[3]};
    return tensor;
  }

  // BINPERSID. torch.save's persistent id for a storage is ('storage', storage_type, key, location, numel) in the
  // zip format, plus view_metadata (None or (view_key, offset, size)) in the legacy one.
  PickleValue* load_persistent(PickleValue* id) {
    if (context_.persistent_ids == PersistentIds::kNone) {
      corrupt("unexpected persistent id (this pickle holds no storages)");
    }
    if (id->kind != PickleValue::Kind::kTuple || id->items.empty()) {
      corrupt("persistent id must be a tuple, found " + describe_kind(id->kind));
    }
    const std::vector<PickleValue*>& parts = id->items;
    if (parts[0]->kind != PickleValue::Kind::kString || parts[0]->text != "storage") {
      if (parts[0]->kind == PickleValue::Kind::kString && parts[0]->text == "module") {
        unsupported(
            "the file holds a pickled nn.Module (torch.save(model)), not a state dict; save "
            "model.state_dict() instead");
      }
      unsupported("unsupported persistent id (expected one starting with 'storage', as torch.save writes)");
    }
    const bool legacy = context_.persistent_ids == PersistentIds::kLegacyStorages;
    if (parts.size() != (legacy ? 6u : 5u)) {
      corrupt(legacy ? "storage persistent id needs 6 parts ('storage', type, key, location, numel, view), found " +
                           std::to_string(parts.size())
                     : "storage persistent id needs 5 parts ('storage', type, key, location, numel), found " +
                           std::to_string(parts.size()));
    }
    PickleValue* type = parts[1];
    // A storage of a type outside the allowlist (a dtype vitorch does not read) is never read: it stays the
    // type's placeholder, and so does any tensor on it.
    if (type->kind == PickleValue::Kind::kSkipped) return type;
    if (type->kind != PickleValue::Kind::kGlobal || type->global != AllowedGlobal::kStorageType) {
      corrupt("storage persistent id names no storage type (found " + describe_kind(type->kind) + ")");
    }
    if (parts[2]->kind != PickleValue::Kind::kString || parts[3]->kind != PickleValue::Kind::kString) {
      corrupt("storage persistent id needs a str key and a str location");
    }
    if (parts[4]->kind != PickleValue::Kind::kInt) {
      corrupt("storage persistent id needs an int element count, found " + describe_kind(parts[4]->kind));
    }
    if (parts[4]->integer < 0) {
      corrupt("storage persistent id has a negative element count (" + std::to_string(parts[4]->integer) + ")");
    }
    if (legacy) check_view_metadata(parts[5]);
    PickleValue* storage = make_text(PickleValue::Kind::kStorage, parts[2]->text);
    storage->storage_dtype = type->storage_dtype;
    storage->items = parts;
    return storage;
  }

  // The legacy format's view_metadata: None, or (view_key, offset, size) with a str key and ints >= 0.
  void check_view_metadata(const PickleValue* view) const {
    if (view->kind == PickleValue::Kind::kNone) return;
    if (view->kind != PickleValue::Kind::kTuple || view->items.size() != 3) {
      corrupt("storage persistent id's view must be None or a tuple (view_key, offset, size), found " +
              (view->kind == PickleValue::Kind::kTuple ? "a tuple of " + std::to_string(view->items.size())
                                                       : describe_kind(view->kind)));
    }
    const std::vector<PickleValue*>& parts = view->items;
    if (parts[0]->kind != PickleValue::Kind::kString || parts[1]->kind != PickleValue::Kind::kInt ||
        parts[2]->kind != PickleValue::Kind::kInt) {
      corrupt("storage view (view_key, offset, size) needs a str and two ints");
    }
    if (parts[1]->integer < 0 || parts[2]->integer < 0) {
      corrupt("storage view has a negative offset or size (" + std::to_string(parts[1]->integer) + ", " +
              std::to_string(parts[2]->integer) + ")");
    }
  }

  // ---- one opcode -----------------------------------------------------------------------------------------------

  void execute(unsigned char opcode) {
    using Kind = PickleValue::Kind;
    switch (opcode) {
      case pickle_op::kProto: {
        const unsigned version = *take(1);
        if (version > kHighestProtocol) {
          unsupported("pickle protocol " + std::to_string(version) + " is newer than the supported " +
                      std::to_string(kHighestProtocol));
        }
        return;
      }
      case pickle_op::kFrame:
        // Framing only groups opcodes for buffered reading; the whole pickle is in memory already.
        if (read_unsigned(8) > input_.remaining()) corrupt("FRAME is longer than the rest of the pickle");
        return;
      case pickle_op::kMark:
        if (marks_.size() >= kMaxMarks) unsupported("too many nested MARKs; refusing to continue");
        marks_.push_back(stack_.size());
        return;
      case pickle_op::kPop:
        // CPython: with nothing above the mark, POP discards the mark itself.
        if (stack_.size() > floor()) {
          stack_.pop_back();
        } else {
          pop_to_mark();
        }
        return;
      case pickle_op::kPopMark: pop_to_mark(); return;
      case pickle_op::kDup: push(top()); return;

      case pickle_op::kNone: push(make(Kind::kNone)); return;
      case pickle_op::kNewTrue:
      case pickle_op::kNewFalse: {
        PickleValue* value = make(Kind::kBool);
        value->boolean = opcode == pickle_op::kNewTrue;
        push(value);
        return;
      }
      case pickle_op::kBinInt: {
        const auto raw = static_cast<uint32_t>(read_unsigned(4));
        int32_t value;
        std::memcpy(&value, &raw, sizeof value);
        push(make_int(value));
        return;
      }
      case pickle_op::kBinInt1: push(make_int(static_cast<int64_t>(read_unsigned(1)))); return;
      case pickle_op::kBinInt2: push(make_int(static_cast<int64_t>(read_unsigned(2)))); return;
      case pickle_op::kLong1: push(make_int(read_long(read_unsigned(1)))); return;
      case pickle_op::kLong4: {
        const auto raw = static_cast<uint32_t>(read_unsigned(4));
        if (raw & 0x80000000u) corrupt("LONG4 has a negative length");
        push(make_int(read_long(raw)));
        return;
      }
      case pickle_op::kBinFloat: {
        // The only big-endian field in the format.
        const unsigned char* p = take(8);
        uint64_t bits = 0;
        for (int i = 0; i < 8; ++i) bits = (bits << 8) | p[i];
        PickleValue* value = make(Kind::kFloat);
        std::memcpy(&value->real, &bits, sizeof bits);
        push(value);
        return;
      }

      case pickle_op::kShortBinUnicode: push(make_text(Kind::kString, read_text(read_unsigned(1)))); return;
      case pickle_op::kBinUnicode: push(make_text(Kind::kString, read_text(read_unsigned(4)))); return;
      case pickle_op::kBinUnicode8: push(make_text(Kind::kString, read_text(read_unsigned(8)))); return;
      case pickle_op::kShortBinString: push(make_text(Kind::kString, read_text(read_unsigned(1)))); return;
      case pickle_op::kBinString: {
        const auto raw = static_cast<uint32_t>(read_unsigned(4));
        if (raw & 0x80000000u) corrupt("BINSTRING has a negative length");
        push(make_text(Kind::kString, read_text(raw)));
        return;
      }
      case pickle_op::kShortBinBytes: push(make_text(Kind::kBytes, read_text(read_unsigned(1)))); return;
      case pickle_op::kBinBytes: push(make_text(Kind::kBytes, read_text(read_unsigned(4)))); return;
      case pickle_op::kBinBytes8: push(make_text(Kind::kBytes, read_text(read_unsigned(8)))); return;

      case pickle_op::kEmptyTuple: push(make_tuple({})); return;
      case pickle_op::kTuple: push(make_tuple(pop_to_mark())); return;
      case pickle_op::kTuple1:
      case pickle_op::kTuple2:
      case pickle_op::kTuple3: {
        const size_t count = static_cast<size_t>(opcode - pickle_op::kTuple1) + 1;
        std::vector<PickleValue*> items(count);
        for (size_t i = count; i-- > 0;) items[i] = pop();
        push(make_tuple(std::move(items)));
        return;
      }
      case pickle_op::kEmptyList: push(make(Kind::kList)); return;
      case pickle_op::kList: {
        PickleValue* list = make(Kind::kList);
        list->items = pop_to_mark();
        push(list);
        return;
      }
      case pickle_op::kAppend: {
        PickleValue* value = pop();
        if (top()->kind == Kind::kSkipped) return;  // filling a placeholder (a list subclass) changes nothing
        top_of_kind(Kind::kList, "APPEND")->items.push_back(value);
        return;
      }
      case pickle_op::kAppends: {
        std::vector<PickleValue*> values = pop_to_mark();
        if (top()->kind == Kind::kSkipped) return;
        PickleValue* list = top_of_kind(Kind::kList, "APPENDS");
        list->items.insert(list->items.end(), values.begin(), values.end());
        return;
      }
      case pickle_op::kEmptyDict: push(make(Kind::kDict)); return;
      case pickle_op::kDict: {
        std::vector<PickleValue*> items = pop_to_mark();
        if (items.size() % 2 != 0) corrupt("DICT needs key/value pairs, found an odd number of values");
        PickleValue* dict = make(Kind::kDict);
        for (size_t i = 0; i < items.size(); i += 2) set_item(dict, items[i], items[i + 1]);
        push(dict);
        return;
      }
      case pickle_op::kSetItem: {
        PickleValue* value = pop();
        PickleValue* key = pop();
        if (top()->kind == Kind::kSkipped) return;  // filling a placeholder (a dict subclass) changes nothing
        set_item(top_of_kind(Kind::kDict, "SETITEM"), key, value);
        return;
      }
      case pickle_op::kSetItems: {
        std::vector<PickleValue*> items = pop_to_mark();
        if (items.size() % 2 != 0) corrupt("SETITEMS needs key/value pairs, found an odd number of values");
        if (top()->kind == Kind::kSkipped) return;
        PickleValue* dict = top_of_kind(Kind::kDict, "SETITEMS");
        for (size_t i = 0; i < items.size(); i += 2) set_item(dict, items[i], items[i + 1]);
        return;
      }

      case pickle_op::kBinPut: memo_put(read_unsigned(1)); return;
      case pickle_op::kLongBinPut: memo_put(read_unsigned(4)); return;
      case pickle_op::kMemoize: memo_put(memo_.size()); return;
      case pickle_op::kBinGet: push(memo_get(read_unsigned(1))); return;
      case pickle_op::kLongBinGet: push(memo_get(read_unsigned(4))); return;

      case pickle_op::kGlobal: {
        const std::string module = read_line();
        const std::string name = read_line();
        push(make_global(module, name));
        return;
      }
      case pickle_op::kStackGlobal: {
        PickleValue* name = pop();
        PickleValue* module = pop();
        if (module->kind != Kind::kString || name->kind != Kind::kString) {
          corrupt("STACK_GLOBAL needs two strings, found " + describe_kind(module->kind) + " and " +
                  describe_kind(name->kind));
        }
        push(make_global(module->text, name->text));
        return;
      }
      case pickle_op::kReduce: {
        PickleValue* arguments = pop();
        PickleValue* callable = pop();
        push(call(callable, arguments, "REDUCE"));
        return;
      }
      case pickle_op::kNewObj: {
        // cls.__new__(cls, *args); only OrderedDict is a class on the allowlist.
        PickleValue* arguments = pop();
        PickleValue* cls = pop();
        if (cls->kind == Kind::kSkipped) {
          push(call(cls, arguments, "NEWOBJ"));  // the placeholder itself: no object is made
          return;
        }
        if (cls->kind != Kind::kGlobal || cls->global != AllowedGlobal::kOrderedDict) {
          corrupt("NEWOBJ is only supported for collections.OrderedDict");
        }
        push(call(cls, arguments, "NEWOBJ"));
        return;
      }
      case pickle_op::kBuild: {
        // obj.__setstate__(state). state_dict() attaches its _metadata to the OrderedDict this way; keep it.
        PickleValue* state = pop();
        PickleValue* object = top();
        if (object->kind == Kind::kSkipped) return;  // no __setstate__ runs; the state is dropped
        if (object->kind != Kind::kDict) {
          unsupported("BUILD (setting an object's state) is only supported on a dict, found " +
                      describe_kind(object->kind));
        }
        object->build_state = state;
        return;
      }
      case pickle_op::kBinPersId: push(load_persistent(pop())); return;

      default: break;
    }
    if (const char* name = unsupported_opcode_name(opcode)) {
      unsupported("unsupported pickle opcode " + hex_byte(opcode) + " (" + name +
                  "), which torch.save does not write for a state dict");
    }
    corrupt("unknown pickle opcode " + hex_byte(opcode));
  }

  PickleInput& input_;
  const UnpickleContext& context_;
  const std::string& file_path_;
  std::unique_ptr<PickleValues> values_;
  uint64_t opcode_offset_ = 0;
  std::vector<PickleValue*> stack_;
  std::vector<size_t> marks_;
  std::unordered_map<uint64_t, PickleValue*> memo_;
  SkippedGlobals skipped_;  // stays empty unless context_.skip_unknown_globals
};

}  // namespace

UnpickledTree unpickle(PickleInput& input, const UnpickleContext& context) { return Machine(input, context).run(); }

StorageRef storage_ref(const PickleValue& storage) {
  // The parts were checked when the persistent id was read (Machine::load_persistent).
  const std::vector<PickleValue*>& parts = storage.items;
  StorageRef ref;
  ref.dtype = storage.storage_dtype;
  ref.key = parts[2]->text;
  ref.location = parts[3]->text;
  ref.element_count = parts[4]->integer;
  if (parts.size() == 6 && parts[5]->kind == PickleValue::Kind::kTuple) {
    const std::vector<PickleValue*>& view = parts[5]->items;
    ref.is_view = true;
    ref.view_key = view[0]->text;
    ref.view_offset = view[1]->integer;
    ref.view_size = view[2]->integer;
  }
  return ref;
}

TensorRef tensor_ref(const PickleValue& tensor) {
  // The items were checked when the tensor was rebuilt (Machine::rebuild_tensor).
  const std::vector<PickleValue*>& items = tensor.items;
  TensorRef ref;
  ref.storage = items[0];
  ref.storage_offset = items[1]->integer;
  ref.sizes.reserve(items[2]->items.size());
  for (const PickleValue* size : items[2]->items) ref.sizes.push_back(size->integer);
  ref.strides.reserve(items[3]->items.size());
  for (const PickleValue* stride : items[3]->items) ref.strides.push_back(stride->integer);
  return ref;
}

}  // namespace vitorch::checkpoint
