// CRC-32 as used by zip (IEEE 802.3 polynomial, reflected, initial value and final xor 0xFFFFFFFF).
//
// torch.save stores the CRC-32 of every record; checking it turns a damaged file into an error instead of silently
// wrong weights. It runs over the whole checkpoint (hundreds of MB), so it is table-driven, 16 bytes per step.
#pragma once

#include <cstddef>
#include <cstdint>

namespace vitorch::checkpoint {

// Returns the CRC-32 of `previous`'s data followed by `data[0, size)`. Start with previous = 0; feeding a buffer in
// pieces gives the same result as feeding it at once, so a record can be checked chunk by chunk as it is read.
uint32_t crc32(const void* data, size_t size, uint32_t previous = 0);

}  // namespace vitorch::checkpoint
