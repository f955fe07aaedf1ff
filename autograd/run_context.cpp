#include "autograd/run_context.h"

#include <unordered_map>
#include <utility>
#include <vector>

#include "tensor/error.h"

namespace loupe {

namespace {

struct Frame {
  const void* module;
  std::string path;
};

struct RunContext {
  uint64_t seed = 0;
  int64_t step = 0, micro = 0;
  std::vector<Frame> scopes;
  std::unordered_map<std::string, uint64_t> calls;  // "path#site" -> draws this micro-batch
};

RunContext& ctx() {
  thread_local RunContext c;
  return c;
}

const std::string kRoot;

// FNV-1a, then a final avalanche (splitmix64) with the seed folded in.
uint64_t mix(uint64_t seed, std::string_view s) {
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char ch : s) h = (h ^ ch) * 1099511628211ULL;
  uint64_t z = h ^ (seed + 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

}  // namespace

void set_step(uint64_t run_seed, int64_t step) {
  LOUPE_CHECK(step >= 0 && step < (int64_t(1) << 32), "set_step: step must be in [0, 2^32), got ", step);
  auto& c = ctx();
  c.seed = run_seed;
  c.step = step;
  c.micro = 0;
  c.calls.clear();
}

void set_micro_batch(int64_t micro) {
  LOUPE_CHECK(micro >= 0 && micro < (int64_t(1) << 16), "set_micro_batch: micro-batch must be in [0, 2^16), got ",
              micro);
  auto& c = ctx();
  c.micro = micro;
  c.calls.clear();
}

int64_t current_step() { return ctx().step; }

const std::string& current_module_path() {
  const auto& s = ctx().scopes;
  return s.empty() ? kRoot : s.back().path;
}

const void* current_module() {
  const auto& s = ctx().scopes;
  return s.empty() ? nullptr : s.back().module;
}

ModuleScope::ModuleScope(const void* module, std::string path) { ctx().scopes.push_back({module, std::move(path)}); }
ModuleScope::~ModuleScope() { ctx().scopes.pop_back(); }

RandomKey next_random_key(std::string_view site) {
  auto& c = ctx();
  std::string key = current_module_path();
  key += '#';
  key += site;
  const uint64_t index = c.calls[key]++;
  LOUPE_CHECK(index < (uint64_t(1) << 16), "random op '", key, "': more than 2^16 draws in micro-batch ", c.micro,
              " of step ", c.step);
  return RandomKey{mix(c.seed, key), (uint64_t(c.step) << 32) + (uint64_t(c.micro) << 16) + index};
}

}  // namespace loupe
