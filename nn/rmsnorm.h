// RMSNorm (Zhang & Sennrich 2019): y = g ⊙ x / sqrt(mean(x²) + eps), one fused op.
#pragma once
#include "nn/module.h"

namespace loupe::nn {

class RMSNorm : public Module {
 public:
  RMSNorm(int64_t dim, double eps = 1e-5, DType dtype = DType::F32);
  Var forward(const Var& x) const;

  double eps;
  Var weight;
};

}  // namespace loupe::nn
