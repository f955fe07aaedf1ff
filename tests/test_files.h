// Test helpers for suites that touch files: a per-test scratch directory and
// the message of the loupe::Error a callable throws.
#pragma once
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "tensor/error.h"

namespace loupe::testing {

// A fresh directory per test (named after the suite prefix, pid and test), removed afterwards.
struct ScratchDir {
  std::filesystem::path path;
  explicit ScratchDir(const std::string& prefix) {
    path = std::filesystem::temp_directory_path() /
           (prefix + std::to_string(::getpid()) + "_" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(path);
    std::filesystem::create_directories(path);
  }
  ~ScratchDir() { std::filesystem::remove_all(path); }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  // Writes `contents` to path/name and returns the file's path.
  std::string file(const std::string& name, const std::string& contents) const {
    const auto p = (path / name).string();
    std::ofstream(p, std::ios::binary) << contents;
    return p;
  }
  std::string sub(const std::string& name) const { return (path / name).string(); }
};

// The message of the loupe::Error that f throws, or "(no error)".
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace loupe::testing
