// LayerNorm over the last dim (Ba et al. 2016): y = g ⊙ (x − mean) / sqrt(var + eps) + b,
// weight g = 1, optional bias b = 0, eps 1e-5 as GPT-2; one fused op (autograd/ops/norm.cpp).
// affine = false: no g, no b (ELiTA's parameter-free norm).
#pragma once
#include "nn/norm.h"

namespace loupe::nn {

class LayerNorm : public Norm {
 public:
  LayerNorm(int64_t dim, bool bias = true, double eps = 1e-5, DType dtype = DType::F32, bool affine = true);
  Var forward(const Var& x) const override;

  double eps;
  Var weight, bias;  // undefined when disabled (weight: affine = false)

 private:
  Var ones_;  // the constant gain when affine = false
};

}  // namespace loupe::nn
