// Declaration only: see ../README.md. ProcessGroupGloo.hpp's inline setTimeout() names
// Context::setTimeout; it is never called from vitorch's code.
#pragma once

#include <chrono>

namespace gloo {
class Context {
 public:
  void setTimeout(std::chrono::milliseconds timeout);
};
}  // namespace gloo
