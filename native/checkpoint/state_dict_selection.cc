// Unwrapping training checkpoints (see state_dict_selection.h).
#include "checkpoint/state_dict_selection.h"

#include <optional>

#include "checkpoint/message_text.h"

namespace vitorch::checkpoint {

namespace {

using Kind = PickleValue::Kind;

const char* const kExpected = "expected a dict of tensors (a state_dict)";

// The keys under which training scripts usually keep the model's state dict, in the order they are tried.
const char* const kStateDictKeys[] = {"state_dict", "model"};

const std::string kDataParallelPrefix = "module.";

// How many ignored keys a note lists by name.
constexpr size_t kListedKeys = 8;

// A value as a message shows it: its kind, and for a placeholder (ReadOptions::skip_unknown_globals) the global it
// stands for, so that a state dict holding, say, a numpy array names numpy rather than a bare "skipped object".
std::string describe_value(const PickleValue& value) {
  if (value.kind == Kind::kSkipped) {
    return "an object of " + printable(value.text, 120) + " (skipped: not on the allowlist of globals)";
  }
  return describe_kind(value.kind);
}

struct Problem {
  bool bad_key;      // a key that is not a str, else a value that is not a tensor
  std::string text;  // "found a key that is an int, not a str" / "the value of key 'x' is an int, not a tensor"
};

// What is wrong with `dict` as a state dict, or nullopt if every key is a str and every value a tensor.
std::optional<Problem> state_dict_problem(const PickleValue& dict) {
  for (const auto& [key, value] : dict.entries) {
    if (key->kind != Kind::kString) {
      return Problem{true, "found a key that is " + describe_kind(key->kind) + ", not a str"};
    }
    if (value->kind != Kind::kTensor) {
      return Problem{false,
                     "the value of key '" + printable(key->text) + "' is " + describe_value(*value) + ", not a tensor"};
    }
  }
  return std::nullopt;
}

// The entry of `dict` whose key is the str `name`, or nullptr.
const PickleValue* find_entry(const PickleValue& dict, const std::string& name) {
  for (const auto& [key, value] : dict.entries) {
    if (key->kind == Kind::kString && key->text == name) return value;
  }
  return nullptr;
}

// A dict key as a note shows it: the str itself, an int's digits, else its kind.
std::string key_text(const PickleValue& key) {
  if (key.kind == Kind::kString) return printable(key.text, 60);
  if (key.kind == Kind::kInt) return std::to_string(key.integer);
  return "<" + describe_kind(key.kind) + ">";
}

std::string unwrap_note(const PickleValue& root, const std::string& taken) {
  std::vector<std::string> ignored;
  for (const auto& entry : root.entries) {
    const PickleValue& key = *entry.first;
    if (key.kind == Kind::kString && key.text == taken) continue;
    ignored.push_back(key_text(key));
  }
  std::string note = "took the state dict under '" + taken + "'";
  if (ignored.empty()) return note + " (the only entry)";
  note +=
      " (ignored " + std::to_string(ignored.size()) + " other " + (ignored.size() == 1 ? "entry" : "entries") + ": ";
  for (size_t i = 0; i < ignored.size() && i < kListedKeys; ++i) note += (i ? ", " : "") + ignored[i];
  if (ignored.size() > kListedKeys) note += ", ... (" + std::to_string(ignored.size() - kListedKeys) + " more)";
  return note + ")";
}

StateDictSelection all_entries(const PickleValue& dict) {
  StateDictSelection selection;
  selection.tensors.reserve(dict.entries.size());
  for (const auto& [key, value] : dict.entries) selection.tensors.emplace_back(key->text, value);
  return selection;
}

}  // namespace

StateDictSelection select_state_dict(const PickleValue& root, const RandomAccessFile& file, bool unwrap) {
  if (root.kind != Kind::kDict) {
    file.fail(std::string(kExpected) + ", found " + describe_value(root));
  }
  const std::optional<Problem> problem = state_dict_problem(root);
  if (!problem) return all_entries(root);

  std::string hint;
  if (unwrap) {
    for (const char* candidate : kStateDictKeys) {
      const PickleValue* inner = find_entry(root, candidate);
      if (inner == nullptr) continue;
      if (inner->kind != Kind::kDict) {
        hint += "; the value under '" + std::string(candidate) + "' is " + describe_value(*inner) +
                ", not a state dict either";
        continue;
      }
      const std::optional<Problem> inner_problem = state_dict_problem(*inner);
      if (inner_problem) {
        hint += "; the dict under '" + std::string(candidate) + "' is not a state dict either (" + inner_problem->text +
                ")";
        continue;
      }
      if (inner->entries.empty()) {
        hint += "; the dict under '" + std::string(candidate) + "' is empty";
        continue;
      }
      StateDictSelection selection = all_entries(*inner);
      selection.notes.push_back(unwrap_note(root, candidate));
      return selection;
    }
  }
  file.fail(kExpected + std::string(problem->bad_key ? ", " : ", but ") + problem->text + hint);
}

void strip_data_parallel_prefix(std::vector<std::string>& keys, std::vector<std::string>& notes) {
  if (keys.empty()) return;
  for (const std::string& key : keys) {
    if (key.rfind(kDataParallelPrefix, 0) != 0) return;
  }
  for (std::string& key : keys) key.erase(0, kDataParallelPrefix.size());
  notes.push_back("removed the '" + kDataParallelPrefix + "' prefix (DataParallel/DistributedDataParallel) from " +
                  std::to_string(keys.size()) + (keys.size() == 1 ? " key" : " keys"));
}

}  // namespace vitorch::checkpoint
