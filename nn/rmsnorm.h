// RMSNorm (Zhang & Sennrich 2019): y = g ⊙ x / sqrt(mean(x²) + eps), one fused op;
// with bias, a learned offset β (init 0) is added: Wiola's WiolaRMSNorm, y = g ⊙ x / rms(x) + β.
#pragma once
#include "nn/norm.h"

namespace loupe::nn {

class RMSNorm : public Norm {
 public:
  RMSNorm(int64_t dim, double eps = 1e-5, DType dtype = DType::F32, bool bias = false);
  Var forward(const Var& x) const override;

  double eps;
  Var weight, bias;  // bias undefined when disabled
};

}  // namespace loupe::nn
