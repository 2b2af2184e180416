// Declaration only: see ../../README.md. c10d's GlooStore derives from this class and overrides these four functions;
// vitorch never constructs a GlooStore (libtorch does, inside ProcessGroupGloo), so the layout of this class is not
// used, and GLOO_STORE_HAS_STORE_V2 stays undefined so that the header declares no more overrides.
#pragma once

#include <chrono>
#include <string>
#include <vector>

namespace gloo::rendezvous {
class Store {
 public:
  virtual ~Store() = default;
  virtual void set(const std::string& key, const std::vector<char>& data) = 0;
  virtual std::vector<char> get(const std::string& key) = 0;
  virtual void wait(const std::vector<std::string>& keys) = 0;
  virtual void wait(const std::vector<std::string>& keys, const std::chrono::milliseconds& timeout) = 0;
};
}  // namespace gloo::rendezvous
