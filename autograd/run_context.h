// Where the computation is, for whatever needs to know it without being told by each
// model: the dotted path of the module running (pushed by nn::Child calls, read by tracing
// and by random ops) and the training step (set by the trainer). Thread-local: a forward
// pass runs on one thread (its kernels may fan out with OpenMP; they never read this).
//
// Randomness without stored state: a random op (dropout, attention dropout) asks for its
// Philox key here. The key is a pure function of (run seed, step, module path, site, call
// index of that path and site within the step), so a run resumed at step s draws exactly the
// masks of a run that never stopped, on any number of threads, and nothing is checkpointed.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

namespace loupe {

// ---- the training step ----
// Sets the run seed and step; resets the per-step call indices. Until called: seed 0, step 0.
void set_step(uint64_t run_seed, int64_t step);
int64_t current_step();

// ---- module scopes ----
// The innermost running module's dotted path ("" outside any module call).
const std::string& current_module_path();
// The module running innermost (its address, as pushed), or nullptr.
const void* current_module();

// RAII: pushes (module, path) for the duration of a module call (nn::Child does this).
class ModuleScope {
 public:
  ModuleScope(const void* module, std::string path);
  ~ModuleScope();
  ModuleScope(const ModuleScope&) = delete;
  ModuleScope& operator=(const ModuleScope&) = delete;
};

// ---- random streams ----
// The Philox (seed, stream) of the next draw at `site` in the current module: the seed mixes
// the run seed with the path and site, the stream is step · 2²⁴ + the call index.
struct RandomKey {
  uint64_t seed = 0, stream = 0;
};
RandomKey next_random_key(std::string_view site);

}  // namespace loupe
