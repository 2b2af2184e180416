// The legacy torch.save reader (see torch_legacy_reader.h).
#include "checkpoint/torch_legacy_reader.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <new>
#include <vector>

#include "checkpoint/message_text.h"
#include "checkpoint/pickle_input.h"
#include "checkpoint/skipped_globals.h"
#include "checkpoint/state_dict_selection.h"
#include "checkpoint/storage_checks.h"
#include "checkpoint/tensor_from_storage.h"
#include "checkpoint/unpickler.h"
#include "common/describe.h"
#include "common/errors.h"

namespace vitorch::checkpoint {

namespace {

// 0x1950a86a20f9469cfc6c, little-endian, as LONG1 stores it.
constexpr unsigned char kMagic[10] = {0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19};
constexpr int64_t kProtocolVersion = 1001;
constexpr size_t kMagicPickleMaxLength = 2 + 9 + 13;  // PROTO, FRAME, LONG1 + 10 bytes + STOP

// Length of the magic number pickle up to and including the LONG1's bytes (so without its STOP), or 0 if `head`
// does not start with one. Python pickles an int without memoizing it, so nothing else can come in between.
size_t magic_prefix_length(const unsigned char* head, size_t size) {
  if (size < 2 || head[0] != 0x80 || head[1] < 2 || head[1] > 5) return 0;
  size_t at = 2;
  if (at < size && head[at] == 0x95) at += 9;  // FRAME and its 8-byte length (protocol 4 and later)
  if (size < at + 12 || head[at] != 0x8a || head[at + 1] != sizeof kMagic) return 0;
  if (std::memcmp(head + at + 2, kMagic, sizeof kMagic) != 0) return 0;
  return at + 12;
}

std::string byte_range(uint64_t begin, uint64_t end) {
  return "bytes " + std::to_string(begin) + " to " + std::to_string(end);
}

// sys_info must say the data is little-endian.
void check_sys_info(const PickleValue& sys_info, const RandomAccessFile& file) {
  if (sys_info.kind != PickleValue::Kind::kDict) {
    file.fail("corrupt legacy torch.save file (its system info is " + describe_kind(sys_info.kind) + ", not a dict)");
  }
  for (const auto& [key, value] : sys_info.entries) {
    if (key->kind != PickleValue::Kind::kString || key->text != "little_endian") continue;
    if (value->kind != PickleValue::Kind::kBool) {
      file.fail("corrupt legacy torch.save file (its system info's little_endian is " + describe_kind(value->kind) +
                ", not a bool)");
    }
    if (!value->boolean) {
      file.fail(
          "the checkpoint was saved on a big-endian machine (little_endian is False in its system info); "
          "only little-endian checkpoints are supported");
    }
    return;
  }
  file.fail("corrupt legacy torch.save file (its system info has no little_endian entry)");
}

// The storages the object pickle names and where their bytes are in the file.
class LegacyStorages {
 public:
  explicit LegacyStorages(const RandomAccessFile& file) : file_(file) {}

  // Records every storage persistent id in the tree (kept tensors or not), checking that all ids of one key agree.
  void collect(const PickleValues& values) {
    for (const PickleValue& value : values) {
      if (value.kind != PickleValue::Kind::kStorage) continue;
      const StorageRef ref = storage_ref(value);
      if (!is_known_location(ref.location)) {
        file_.fail("storage '" + printable(ref.key) + "' has unsupported location '" + printable(ref.location) +
                   "' (expected 'cpu' or 'cuda:N')");
      }
      add_root(ref);
      if (ref.is_view) add_view(ref);
    }
    for (const auto& entry : views_) {
      if (roots_.count(entry.first) != 0) {
        file_.fail("corrupt legacy torch.save file (key '" + printable(entry.first) +
                   "' names both a storage and a view of one)");
      }
    }
  }

  void mark_needed(const StorageRef& ref) { roots_.at(ref.key).needed = true; }

  // Walks the storage headers from `position` in the order of the key list (pickle 5), finding where each
  // storage's bytes are; reads no data.
  void locate(const PickleValue& key_list, uint64_t position) {
    if (key_list.kind != PickleValue::Kind::kList) {
      file_.fail("corrupt legacy torch.save file (the storage key list is " + describe_kind(key_list.kind) +
                 ", not a list)");
    }
    for (const PickleValue* item : key_list.items) {
      if (item->kind != PickleValue::Kind::kString) {
        file_.fail("corrupt legacy torch.save file (the storage key list holds " + describe_kind(item->kind) +
                   ", not a str)");
      }
      const std::string& key = item->text;
      const auto found = roots_.find(key);
      if (found == roots_.end()) {
        file_.fail("corrupt legacy torch.save file (the storage key list names '" + printable(key) +
                   "', which the pickled object never refers to" +
                   (views_.count(key) != 0 ? " as a whole storage)" : ")"));
      }
      Root& root = found->second;
      if (root.located) {
        file_.fail("corrupt legacy torch.save file (the storage key list names '" + printable(key) + "' twice)");
      }
      position = locate_one(key, root, position);
    }
    for (const auto& [key, root] : roots_) {
      if (root.needed && !root.located) {
        file_.fail("corrupt legacy torch.save file (storage '" + printable(key) +
                   "' has no data: the storage key list does not name it)");
      }
    }
  }

  // Adds the needed storages to `storages` in file order, each a StorageSource for its byte range; their data is
  // read later (CheckpointIndex). The ranges were found by locate() one after another, so together they take at
  // most the file's size.
  void index_needed(std::vector<StorageSource>& storages) {
    std::vector<std::pair<const std::string*, Root*>> needed;
    for (auto& [key, root] : roots_) {
      if (root.needed) needed.emplace_back(&key, &root);
    }
    std::sort(needed.begin(), needed.end(),
              [](const auto& a, const auto& b) { return a.second->data_offset < b.second->data_offset; });
    for (const auto& [key, root] : needed) {
      StorageSource storage;
      storage.what = "storage '" + printable(*key) + "'";
      storage.dtype = root->dtype;
      storage.element_count = root->element_count;
      storage.byte_count = root->byte_count;
      storage.position = root->data_offset;
      storage.data_offset = root->data_offset;
      storage.meta =
          torch::empty({root->element_count}, torch::TensorOptions().dtype(root->dtype).device(torch::kMeta));
      root->source = storages.size();
      storages.push_back(std::move(storage));
    }
  }

  // The storage an indexed tensor refers to, as a meta tensor: the whole root storage, or the slice a view names.
  // Also gives the index of the root's StorageSource and the key to name it by in messages.
  torch::Tensor storage_of(const StorageRef& ref, const std::vector<StorageSource>& storages, size_t& source,
                           std::string& key) const {
    source = roots_.at(ref.key).source;
    const torch::Tensor& root = storages[source].meta;
    if (!ref.is_view) {
      key = ref.key;
      return root;
    }
    key = ref.view_key;
    return root.narrow(0, ref.view_offset, ref.view_size);  // within the root: checked by add_view()
  }

 private:
  struct Root {
    c10::ScalarType dtype = c10::ScalarType::Undefined;
    int64_t element_count = 0;
    bool needed = false;
    bool located = false;
    uint64_t data_offset = 0;
    uint64_t byte_count = 0;
    size_t source = 0;  // index of its StorageSource, once index_needed() has made it
  };

  struct View {
    std::string root_key;
    int64_t offset;
    int64_t size;
  };

  void add_root(const StorageRef& ref) {
    const auto [found, inserted] = roots_.try_emplace(ref.key);
    if (inserted) {
      found->second.dtype = ref.dtype;
      found->second.element_count = ref.element_count;
      return;
    }
    const Root& root = found->second;
    if (root.dtype != ref.dtype) {
      file_.fail("storage '" + printable(ref.key) + "' is used both as " + dtype_name(root.dtype) + " and as " +
                 dtype_name(ref.dtype));
    }
    if (root.element_count != ref.element_count) {
      file_.fail("corrupt legacy torch.save file (storage '" + printable(ref.key) + "' is said to hold both " +
                 std::to_string(root.element_count) + " and " + std::to_string(ref.element_count) + " elements)");
    }
  }

  void add_view(const StorageRef& ref) {
    // The unpickler checked that offset and size are >= 0.
    if (ref.view_offset > ref.element_count || ref.view_size > ref.element_count - ref.view_offset) {
      file_.fail("corrupt legacy torch.save file (view '" + printable(ref.view_key) + "' of storage '" +
                 printable(ref.key) + "' covers " + std::to_string(ref.view_size) + " elements from element " +
                 std::to_string(ref.view_offset) + ", but the storage has " + std::to_string(ref.element_count) + ")");
    }
    const auto [found, inserted] = views_.try_emplace(ref.view_key, View{ref.key, ref.view_offset, ref.view_size});
    if (inserted) return;
    const View& view = found->second;
    if (view.root_key != ref.key || view.offset != ref.view_offset || view.size != ref.view_size) {
      file_.fail("corrupt legacy torch.save file (view '" + printable(ref.view_key) +
                 "' is described in two different ways)");
    }
  }

  // One storage header at `position`: checks its element count against the pickle's and that its bytes lie
  // within the file; returns where the next header starts.
  uint64_t locate_one(const std::string& key, Root& root, uint64_t position) {
    const std::string what = "storage '" + printable(key) + "'";
    if (file_.size() - position < 8) {
      file_.fail("truncated file (the header of " + what + " needs " + byte_range(position, position + 8) +
                 ", but the file has " + std::to_string(file_.size()) + " bytes)");
    }
    unsigned char header[8];
    file_.read_exact(position, header, sizeof header);
    uint64_t count = 0;
    for (int i = 7; i >= 0; --i) count = (count << 8) | header[i];
    if (count != static_cast<uint64_t>(root.element_count)) {
      file_.fail("corrupt legacy torch.save file (" + what + " holds " + std::to_string(count) + " " +
                 dtype_name(root.dtype) + " elements in the file, but the pickle says " +
                 std::to_string(root.element_count) + ")");
    }
    uint64_t bytes = 0;
    const uint64_t data = position + 8;
    if (__builtin_mul_overflow(count, static_cast<uint64_t>(c10::elementSize(root.dtype)), &bytes) ||
        bytes > file_.size() - data) {
      file_.fail("truncated file (" + what + " of " + std::to_string(count) + " " + dtype_name(root.dtype) +
                 " elements needs " + std::to_string(count) + " x " + std::to_string(c10::elementSize(root.dtype)) +
                 " bytes from byte " + std::to_string(data) + ", but the file has " + std::to_string(file_.size()) +
                 " bytes)");
    }
    root.located = true;
    root.data_offset = data;
    root.byte_count = bytes;
    return data + bytes;
  }

  const RandomAccessFile& file_;
  std::map<std::string, Root> roots_;
  std::map<std::string, View> views_;
};

}  // namespace

bool starts_like_torch_legacy(const unsigned char* head, size_t size) { return magic_prefix_length(head, size) != 0; }

CheckpointLayout index_torch_legacy_checkpoint(const RandomAccessFile& file, const ReadOptions& options) {
  if (!host_is_little_endian()) {
    file.fail("checkpoints can only be read on little-endian machines");
  }
  unsigned char head[kMagicPickleMaxLength];
  const size_t head_size = static_cast<size_t>(std::min<uint64_t>(sizeof head, file.size()));
  file.read_exact(0, head, head_size);
  const size_t magic_length = magic_prefix_length(head, head_size);
  if (magic_length == 0 || magic_length >= head_size || head[magic_length] != '.') {
    file.fail("corrupt legacy torch.save file (its first pickle is not just the magic number)");
  }

  // Pickles 2 to 5, one after the other; each unpickle() stops just past its STOP.
  FilePickleInput input(file, magic_length + 1);
  const std::string& path = file.path();
  const UnpickledTree version = unpickle(input, {path, "the legacy format's version pickle", PersistentIds::kNone});
  if (version.root->kind != PickleValue::Kind::kInt || version.root->integer != kProtocolVersion) {
    file.fail("unsupported legacy torch.save protocol version " +
              (version.root->kind == PickleValue::Kind::kInt ? std::to_string(version.root->integer)
                                                             : "(" + describe_kind(version.root->kind) + ")") +
              " (expected " + std::to_string(kProtocolVersion) + ")");
  }
  const UnpickledTree sys_info = unpickle(input, {path, "the legacy format's sys_info pickle", PersistentIds::kNone});
  check_sys_info(*sys_info.root, file);
  // Only the object pickle is the user's; the others are torch.save's own and stay strict.
  const UnpickledTree object = unpickle(
      input, {path, "the legacy format's object pickle", PersistentIds::kLegacyStorages, options.skip_unknown_globals});
  const UnpickledTree keys = unpickle(input, {path, "the legacy format's storage key list", PersistentIds::kNone});
  const uint64_t data_start = input.position();

  StateDictSelection selection = select_state_dict(*object.root, file, options.unwrap);
  LegacyStorages storages(file);
  storages.collect(*object.values);
  std::vector<TensorRef> tensors;
  tensors.reserve(selection.tensors.size());
  for (const auto& entry : selection.tensors) {
    tensors.push_back(tensor_ref(*entry.second));
    storages.mark_needed(storage_ref(*tensors.back().storage));
  }
  storages.locate(*keys.root, data_start);

  CheckpointLayout layout;
  layout.format = "torch-legacy";
  if (!object.skipped_globals.empty()) {
    layout.notes.push_back(skipped_globals_note(object.skipped_globals, object.skipped_globals_overflowed));
  }
  layout.notes.insert(layout.notes.end(), selection.notes.begin(), selection.notes.end());
  storages.index_needed(layout.storages);
  layout.names.reserve(tensors.size());
  layout.tensors.reserve(tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) {
    const TensorRef& tensor = tensors[i];
    size_t source = 0;
    std::string key;
    const torch::Tensor storage = storages.storage_of(storage_ref(*tensor.storage), layout.storages, source, key);
    layout.tensors.push_back(
        {tensor_from_storage(storage, key, tensor.storage_offset, tensor.sizes, tensor.strides, path), source});
    layout.names.push_back(std::move(selection.tensors[i].first));
  }
  return layout;
}

}  // namespace vitorch::checkpoint
