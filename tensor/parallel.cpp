#include "tensor/parallel.h"

#include <cstring>
#include <mutex>

namespace loupe {

namespace {
std::mutex mu;
std::map<std::string, int64_t>& counts() {
  static std::map<std::string, int64_t> c;
  return c;
}
}  // namespace

void note_parallel_region(const char* file) {
  const char* slash = std::strrchr(file, '/');
  const std::lock_guard<std::mutex> lock(mu);
  ++counts()[slash ? slash + 1 : file];
}

std::map<std::string, int64_t> parallel_regions() {
  const std::lock_guard<std::mutex> lock(mu);
  return counts();
}

void reset_parallel_regions() {
  const std::lock_guard<std::mutex> lock(mu);
  counts().clear();
}

}  // namespace loupe
