// Where the computation is, for whatever needs to know it without being told by each
// model: the dotted path of the module running (pushed by nn::Child calls, read by tracing
// and by random ops) and the training step (set by the trainer). Thread-local: a forward
// pass runs on one thread (its kernels may fan out with OpenMP; they never read this).
//
// Randomness without stored state: a random op (dropout, attention dropout) asks for its
// Philox key here. The key is a pure function of (run seed, step, micro-batch, module path, site,
// call index of that path and site within the micro-batch), so a run resumed at step s draws
// exactly the masks of a run that never stopped, on any number of threads or ranks (a rank
// running micro-batch m of a step draws what one process draws there), and nothing is
// checkpointed.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

namespace loupe {

// ---- the training step ----
// Sets the run seed and step; resets the per-step call indices. Until called: seed 0, step 0.
void set_step(uint64_t run_seed, int64_t step);
int64_t current_step();
// Sets the micro-batch of the step (0 after set_step) and resets the call indices: the trainer
// calls it before each micro-batch's forward, with its index m in the step (tools/train/step_gradient.h).
void set_micro_batch(int64_t micro);

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
// the run seed with the path and site, the stream is step · 2³² + micro-batch · 2¹⁶ + call index.
struct RandomKey {
  uint64_t seed = 0, stream = 0;
};
RandomKey next_random_key(std::string_view site);

}  // namespace loupe
