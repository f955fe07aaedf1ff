#include "nn/dropout.h"

#include "autograd/nn_ops.h"

namespace loupe::nn {

Dropout::Dropout(double p_, uint64_t seed_) : p(p_), seed(seed_) {
  LOUPE_CHECK(p >= 0 && p < 1, "Dropout: p must be in [0, 1), got ", p);
}

Var Dropout::forward(const Var& x) {
  if (!is_training() || p == 0) return x;
  return dropout(x, p, seed, calls++);
}

}  // namespace loupe::nn
