// Quoting untrusted text (record names, pickle strings, global names) for error messages.
//
// Those strings come straight from the file, so they may be huge or hold control characters; an error message
// should stay one readable line whatever the file contains.
#pragma once

#include <cstdio>
#include <string>

namespace vitorch::checkpoint {

// `text` with control characters shown as \xNN and cut to `max_length` bytes (marked with "...").
// Bytes >= 0x80 are kept, so UTF-8 names stay readable.
inline std::string printable(const std::string& text, size_t max_length = 200) {
  std::string out;
  const size_t shown = text.size() < max_length ? text.size() : max_length;
  out.reserve(shown + 8);
  for (size_t i = 0; i < shown; ++i) {
    const auto byte = static_cast<unsigned char>(text[i]);
    if (byte < 0x20 || byte == 0x7F) {
      char escaped[8];
      std::snprintf(escaped, sizeof escaped, "\\x%02x", byte);
      out += escaped;
    } else {
      out += static_cast<char>(byte);
    }
  }
  if (shown < text.size()) out += "...";
  return out;
}

}  // namespace vitorch::checkpoint
