// Helpers for the core's unit tests: where the fixtures are, reading and writing whole files, scratch folders.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "common/errors.h"

namespace vitorch::testing {

// The real checkpoints torch writes (npm run fixtures): $VITORCH_FIXTURES_DIR, which CTest sets, or the checkout's
// test/fixtures/generated seen from the current folder.
inline std::string fixture(const std::string& relative) {
  const char* dir = std::getenv("VITORCH_FIXTURES_DIR");
  return std::string(dir != nullptr ? dir : "test/fixtures/generated") + "/" + relative;
}

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

inline void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) throw std::runtime_error("cannot write " + path);
}

// A fresh folder under the system's temporary folder, removed with everything in it when the test ends.
class ScratchFolder {
 public:
  ScratchFolder() {
    std::string pattern = (std::filesystem::temp_directory_path() / "vitorch-core-test-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~ScratchFolder() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

// The message of the CheckpointError that `body` throws; fails the test if it throws nothing or something else.
template <typename Body>
std::string checkpoint_error_of(Body&& body) {
  try {
    body();
  } catch (const CheckpointError& error) {
    return error.what();
  } catch (const std::exception& error) {
    ADD_FAILURE() << "expected a CheckpointError, got: " << error.what();
    return {};
  }
  ADD_FAILURE() << "expected a CheckpointError, nothing was thrown";
  return {};
}

}  // namespace vitorch::testing
