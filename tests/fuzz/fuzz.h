// Shared bits of the libFuzzer targets (tests/fuzz/fuzz_*.cpp; built by `./run fuzz`).
// A target feeds its input to one reader of outside data. A clean refusal is a loupe::Error
// (the message names the file/key/shape); anything else — another exception, a crash, a
// sanitizer report, a hang or a huge allocation — is a finding.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <unistd.h>

#include "tensor/error.h"
#include "tensor/file_io.h"

namespace loupe::fuzz {

inline std::string bytes(const uint8_t* data, size_t size) { return std::string(reinterpret_cast<const char*>(data), size); }

// A scratch directory of this process (targets that read files write the input there).
inline const std::string& scratch() {
  static const std::string dir = [] {
    const auto d = std::filesystem::temp_directory_path() / ("loupe_fuzz_" + std::to_string(::getpid()));
    std::filesystem::create_directories(d);
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(std::filesystem::temp_directory_path() / ("loupe_fuzz_" + std::to_string(::getpid())), ec);
    });
    return d.string();
  }();
  return dir;
}

inline std::string write_scratch(const std::string& name, const std::string& content) {
  const std::string path = scratch() + "/" + name;
  write_file_atomic(path, content);
  return path;
}

// Runs f; a loupe::Error is the reader refusing bad input, which is fine.
template <class F>
void refusal_ok(F&& f) {
  try {
    f();
  } catch (const loupe::Error&) {
  }
}

}  // namespace loupe::fuzz
