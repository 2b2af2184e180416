// The data.pkl of a torch.save checkpoint: the pickle of an OrderedDict of tensors, as torch.save(state_dict) makes.
//
// Protocol 2, the structure torch.save emits (and torch.load(weights_only=True) accepts):
//   collections.OrderedDict() via REDUCE, then for every entry the key and
//   torch._utils._rebuild_tensor_v2(
//       BINPERSID(('storage', torch.<Type>Storage, '<storage key>', 'cpu', <element count>)),
//       0, <size tuple>, <contiguous stride tuple>, False, collections.OrderedDict())
// Each tensor gets its own storage holding exactly its elements, so the record for storage key "<i>" is tensor i's
// bytes as a contiguous array. The memo (BINPUT / BINGET) is optional in pickle and not used: it would only shorten
// the few repeated globals.
#pragma once

#include <c10/core/ScalarType.h>

#include <string>

#include "checkpoint/checkpoint_reader.h"

namespace vitorch::checkpoint {

// The pickle for `tensors`, which must be defined, strided, of supported dtypes and have unique UTF-8 names (the
// caller validates). Only metadata is read; storage keys are "0", "1", ... in order.
std::string pickle_state_dict(const NamedTensors& tensors);

}  // namespace vitorch::checkpoint
