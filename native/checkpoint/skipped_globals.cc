// The placeholder table and its note (see skipped_globals.h).
#include "checkpoint/skipped_globals.h"

#include "checkpoint/message_text.h"

namespace vitorch::checkpoint {

namespace {

// Names shown in the note: every one a real checkpoint has; a hostile pickle's flood is cut short.
constexpr size_t kListedNames = 32;

PickleValue* make_placeholder(PickleValues& values, std::string text) {
  PickleValue& value = values.emplace_back();
  value.kind = PickleValue::Kind::kSkipped;
  value.text = std::move(text);
  return &value;
}

}  // namespace

PickleValue* SkippedGlobals::placeholder(const std::string& full_name, PickleValues& values) {
  const auto found = by_name_.find(full_name);
  if (found != by_name_.end()) return found->second;
  if (names_.size() >= kMaxDistinct) {
    if (overflow_ == nullptr) overflow_ = make_placeholder(values, "(one of more unknown globals)");
    return overflow_;
  }
  PickleValue* value = make_placeholder(values, full_name);
  by_name_.emplace(full_name, value);
  names_.push_back(full_name);
  return value;
}

std::string skipped_globals_note(const std::vector<std::string>& names, bool overflowed) {
  std::string note = "skipped the objects of ";
  note += overflowed ? "more than " + std::to_string(names.size()) : std::to_string(names.size());
  note += names.size() == 1 && !overflowed ? " global" : " globals";
  note += " outside the allowlist (not tensors; nothing was imported or called): ";
  for (size_t i = 0; i < names.size() && i < kListedNames; ++i) note += (i ? ", " : "") + printable(names[i], 120);
  if (names.size() > kListedNames) {
    note += ", ... (" + std::to_string(names.size() - kListedNames) + (overflowed ? "+" : "") + " more)";
  } else if (overflowed) {
    note += ", ...";
  }
  return note;
}

}  // namespace vitorch::checkpoint
