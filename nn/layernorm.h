// LayerNorm over the last dim (weight 1, optional bias 0; eps 1e-5 as GPT-2), one fused op.
#pragma once
#include "nn/module.h"

namespace loupe::nn {

class LayerNorm : public Module {
 public:
  LayerNorm(int64_t dim, bool bias = true, double eps = 1e-5, DType dtype = DType::F32);
  Var forward(const Var& x) const;

  double eps;
  Var weight, bias;  // bias undefined when disabled
};

}  // namespace loupe::nn
