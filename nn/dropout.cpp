#include "nn/dropout.h"

#include "autograd/nn_ops.h"

namespace loupe::nn {

Dropout::Dropout(double p_) : p(p_) { LOUPE_CHECK(p >= 0 && p < 1, "Dropout: p must be in [0, 1), got ", p); }

Var Dropout::forward(const Var& x) const {
  if (!is_training() || p == 0) return x;
  const RandomKey key = next_random_key("dropout");
  return dropout(x, p, key.seed, key.stream);
}

}  // namespace loupe::nn
