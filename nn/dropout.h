// Dropout with a counter-based mask: call n of this module in training mode uses
// Philox stream (seed, n), so masks are reproducible and thread-count independent.
// In eval mode, or with p = 0, forward is the identity.
#pragma once
#include "nn/module.h"

namespace loupe::nn {

class Dropout : public Module {
 public:
  Dropout(double p, uint64_t seed);
  Var forward(const Var& x);

  double p;
  uint64_t seed;
  uint64_t calls = 0;  // training-mode calls so far (the Philox stream of the next mask)
};

}  // namespace loupe::nn
