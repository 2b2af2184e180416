// Finding the state dict in what a checkpoint file holds.
//
// A file may hold the state dict itself ({name: tensor}), or a training checkpoint that wraps it
// ({'state_dict': {...}, 'epoch': 3, 'optimizer': {...}} or {'model': {...}, ...}), and its keys may carry the
// 'module.' prefix that torch.nn.DataParallel / DistributedDataParallel add. With unwrapping on (the default),
// the wrapper is taken off and the prefix removed, each with a note saying so, so that nothing happens silently.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "checkpoint/checkpoint_reader.h"
#include "checkpoint/pickle_value.h"
#include "checkpoint/random_access_file.h"

namespace vitorch::checkpoint {

struct StateDictSelection {
  std::vector<std::pair<std::string, const PickleValue*>> tensors;  // name -> kTensor value, in file order
  std::vector<std::string> notes;
};

// The state dict in an unpickled checkpoint: `root` itself if it is a dict of str -> tensor; otherwise, when
// `unwrap`, the dict of tensors under its 'state_dict' or 'model' key (everything else is ignored: epoch numbers,
// optimizer state, ...). Fails through `file`, naming the offending key and its type, if there is no such dict.
StateDictSelection select_state_dict(const PickleValue& root, const RandomAccessFile& file, bool unwrap);

// If there are keys and every one starts with 'module.', removes that prefix and adds a note.
void strip_data_parallel_prefix(std::vector<std::string>& keys, std::vector<std::string>& notes);

}  // namespace vitorch::checkpoint
