// Dropout with a stateless mask: each training-mode call draws its Philox key from the run
// context (autograd/run_context.h), keyed by (run seed, step, this module's path, call index
// within the step), so masks are reproducible, thread-count independent and survive a resume
// with nothing saved. In eval mode, or with p = 0, forward is the identity.
#pragma once
#include "nn/module.h"

namespace loupe::nn {

class Dropout : public Module {
 public:
  explicit Dropout(double p);
  Var forward(const Var& x) const;

  double p;
};

}  // namespace loupe::nn
