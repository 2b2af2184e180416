// Unknown globals as inert placeholders, for reading the tensors of a training checkpoint that also pickles other
// Python objects (timm's model_best.pth.tar holds an argparse.Namespace and numpy scalars beside its state dict).
//
// Only with ReadOptions::skip_unknown_globals; by default the unpickler refuses such a global by name. With it, a
// GLOBAL / STACK_GLOBAL naming anything outside allowed_globals.h (argparse.Namespace, numpy.dtype, but equally
// os.system or builtins.eval) yields a PickleValue of kind kSkipped, and the unpickler treats "calling" one
// (REDUCE, NEWOBJ), setting its state (BUILD) and filling it (APPEND(S), SETITEM(S)) as yielding the same
// placeholder, after parsing and discarding the arguments. Nothing is ever imported or called, and a placeholder is
// never a tensor or a storage: a tensor rebuilt from one is a placeholder too, so a state dict holding one fails
// to load with a message naming the key.
//
// There is one placeholder per distinct name, shared by everything made from it, so no opcode sequence can make
// placeholders cost more than the table's fixed bound; the names are kept for the note that tells the user what
// the file held.
#pragma once

#include <cstddef>
#include <string>
#include <unordered_map>
#include <vector>

#include "checkpoint/pickle_value.h"

namespace vitorch::checkpoint {

class SkippedGlobals {
 public:
  // Longer names are refused even with the option: no real module.qualname comes near, and the bound keeps each
  // look-up cheap (a pickle can name one memoised long string in many STACK_GLOBALs).
  static constexpr size_t kMaxNameLength = 1024;
  // Distinct names that get their own placeholder; any further ones share one.
  static constexpr size_t kMaxDistinct = 256;

  // The placeholder for `full_name` ("module.name", at most kMaxNameLength bytes), made in `values` the first time.
  PickleValue* placeholder(const std::string& full_name, PickleValues& values);

  // The distinct names seen, in the order first seen (at most kMaxDistinct), and whether there were more.
  const std::vector<std::string>& names() const { return names_; }
  bool overflowed() const { return overflow_ != nullptr; }

 private:
  std::unordered_map<std::string, PickleValue*> by_name_;
  std::vector<std::string> names_;
  PickleValue* overflow_ = nullptr;
};

// The note a reader adds when a pickle had skipped globals: "skipped the objects of 2 globals outside the
// allowlist (not tensors; nothing was imported or called): argparse.Namespace, numpy.dtype". Names are quoted with
// printable().
std::string skipped_globals_note(const std::vector<std::string>& names, bool overflowed);

}  // namespace vitorch::checkpoint
