// Parameter initialisation with the counter-based RNG: each tensor's values are a
// pure function of (seed, parameter name), so a model's initial weights do not
// depend on construction order or threading.
#pragma once
#include <cstdint>
#include <string>

#include "autograd/var.h"

namespace loupe::nn {

// FNV-1a of `name` mixed with `seed`: the RNG seed of one named parameter.
uint64_t param_seed(uint64_t seed, const std::string& name);
// In place: p ~ N(0, std²) drawn with param_seed(seed, name).
void init_normal_(Var& p, double std, uint64_t seed, const std::string& name);
void init_constant_(Var& p, double value);

}  // namespace loupe::nn
