// Linear: y = x Wᵀ + b with W [out, in] (PyTorch's layout, so state dicts match).
#pragma once
#include "nn/module.h"

namespace loupe::nn {

// The functional form, for ops that take their weights as arguments: x [..., in], W [out, in].
Var linear(const Var& x, const Var& weight, const Var& bias = Var());

class Linear : public Module {
 public:
  // Weight starts at zero; models initialise it (nn/init.h). bias=false: no bias parameter.
  Linear(int64_t in_features, int64_t out_features, bool bias = true, DType dtype = DType::F32);
  Var forward(const Var& x) const;  // x [..., in] -> [..., out]

  int64_t in_features, out_features;
  Var weight, bias;  // bias undefined when disabled
};

}  // namespace loupe::nn
