// Declaration only: see ../../README.md. Held by shared or unique pointers in ProcessGroupGloo.hpp, never dereferenced.
#pragma once

namespace gloo::transport {
class Device;
class UnboundBuffer;
}  // namespace gloo::transport
