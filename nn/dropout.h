// Dropout with a stateless mask: each training-mode call draws its Philox key from the run
// context (autograd/run_context.h), keyed by (run seed, step, this module's path, call index
// within the step), so masks are reproducible, thread-count independent and survive a resume
// with nothing saved. In eval mode, or with p = 0, forward is the identity.
#pragma once
#include "nn/module.h"

namespace loupe::nn {

// Dropout as a Dropout module in training mode draws it: the mask keyed at the running module's path
// (site "dropout"); the identity for p = 0. The Python API's F.dropout calls it too.
Var module_dropout(const Var& x, double p);

class Dropout : public Module {
 public:
  explicit Dropout(double p);
  Var forward(const Var& x) const;

  double p;
};

}  // namespace loupe::nn
