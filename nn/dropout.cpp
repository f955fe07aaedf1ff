#include "nn/dropout.h"

#include "autograd/nn_ops.h"

namespace loupe::nn {

Dropout::Dropout(double p_) : p(p_) { LOUPE_CHECK(p >= 0 && p < 1, "Dropout: p must be in [0, 1), got ", p); }

Var module_dropout(const Var& x, double p) {
  if (p == 0) return x;
  const RandomKey key = next_random_key("dropout");
  return dropout(x, p, key.seed, key.stream);
}

Var Dropout::forward(const Var& x) const { return is_training() ? module_dropout(x, p) : x; }

}  // namespace loupe::nn
