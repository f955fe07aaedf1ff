// Whole-file reads and crash-safe writes, used by every writer of the project (checkpoints,
// tokenizers, token caches, metrics, plots): nothing is ever left half-written.
#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace loupe {

std::string read_file(const std::string& path);  // an Error names the file when unreadable

// Writes the parts, in order, to path + ".tmp.<pid>.<n>", fsyncs it, renames it over `path` and fsyncs the
// directory, so a crash leaves either the old file or the new one. On failure the temporary file
// is removed and an Error names the path. Concurrent writers of one path are safe: each renames
// its own whole file over it.
void write_file_atomic(const std::string& path, const std::vector<std::string_view>& parts);
inline void write_file_atomic(const std::string& path, std::string_view bytes) {
  write_file_atomic(path, std::vector<std::string_view>{bytes});
}

}  // namespace loupe
