#include "tensor/reference/mode.h"

#include <atomic>
#include <cstdlib>
#include <cstring>

namespace loupe::reference {

static std::atomic<bool>& flag() {
  static std::atomic<bool> on{[] {
    const char* e = std::getenv("LOUPE_REFERENCE");
    return e && *e && std::strcmp(e, "0") != 0;
  }()};
  return on;
}

bool enabled() { return flag().load(std::memory_order_relaxed); }
void set_enabled(bool on) { flag().store(on, std::memory_order_relaxed); }

}  // namespace loupe::reference
