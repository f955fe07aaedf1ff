#include "tensor/allocator.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "tensor/error.h"

namespace loupe {
namespace {

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kCaching = false;
#else
constexpr bool kCaching = true;
#endif
constexpr size_t kMinCached = size_t(1) << 20;  // smaller blocks come and go through malloc's own free lists
constexpr size_t kRound = size_t(1) << 16;

struct BlockCache {
  std::mutex mu;
  std::unordered_map<size_t, std::vector<void*>> free_blocks;  // capacity -> blocks
  size_t cached = 0, limit = size_t(1) << 30;
  BlockCache() {
    const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    if (pages > 0 && page > 0) limit = size_t(pages) * size_t(page) / 4;
  }
  void release_all() {  // with mu held
    for (auto& [cap, blocks] : free_blocks)
      for (void* p : blocks) std::free(p);
    free_blocks.clear();
    cached = 0;
  }
};
// Never destroyed: tensors held by other statics may be freed after it would have been.
BlockCache& cache() {
  static BlockCache* c = new BlockCache;
  return *c;
}

std::atomic<size_t> g_live{0}, g_peak{0};

void count_alloc(size_t capacity) {
  const size_t now = g_live.fetch_add(capacity, std::memory_order_relaxed) + capacity;
  size_t peak = g_peak.load(std::memory_order_relaxed);
  while (now > peak && !g_peak.compare_exchange_weak(peak, now, std::memory_order_relaxed)) {
  }
}

}  // namespace

size_t storage_live_bytes() { return g_live.load(std::memory_order_relaxed); }
size_t storage_peak_bytes() { return g_peak.load(std::memory_order_relaxed); }
void storage_reset_peak() { g_peak.store(g_live.load(std::memory_order_relaxed), std::memory_order_relaxed); }

void* storage_alloc(size_t bytes, size_t& capacity) {
  const size_t n = std::max<size_t>(bytes, 1);
  capacity = n >= kMinCached ? (n + kRound - 1) / kRound * kRound : (n + 63) / 64 * 64;
  const bool cacheable = kCaching && capacity >= kMinCached;
  if (cacheable) {
    BlockCache& c = cache();
    std::lock_guard<std::mutex> lock(c.mu);
    auto it = c.free_blocks.find(capacity);
    if (it != c.free_blocks.end() && !it->second.empty()) {
      void* p = it->second.back();
      it->second.pop_back();
      c.cached -= capacity;
      count_alloc(capacity);
      return p;
    }
  }
  void* p = std::aligned_alloc(64, capacity);
  if (p == nullptr && cacheable) {  // give the cached blocks back and try once more
    BlockCache& c = cache();
    {
      std::lock_guard<std::mutex> lock(c.mu);
      c.release_all();
    }
    p = std::aligned_alloc(64, capacity);
  }
  LOUPE_CHECK(p != nullptr, "out of memory allocating ", bytes, " bytes of tensor storage");
  count_alloc(capacity);
  return p;
}

void storage_free(void* p, size_t capacity) {
  if (p == nullptr) return;
  g_live.fetch_sub(capacity, std::memory_order_relaxed);
  if (kCaching && capacity >= kMinCached) {
    BlockCache& c = cache();
    std::lock_guard<std::mutex> lock(c.mu);
    if (c.cached + capacity <= c.limit) {
      c.free_blocks[capacity].push_back(p);
      c.cached += capacity;
      return;
    }
  }
  std::free(p);
}

size_t storage_cached_bytes() {
  BlockCache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  return c.cached;
}

}  // namespace loupe
