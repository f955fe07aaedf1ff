#include "nn/linear.h"

#include "autograd/ops.h"

namespace loupe::nn {

Linear::Linear(int64_t in, int64_t out, bool has_bias, DType dtype) : in_features(in), out_features(out) {
  LOUPE_CHECK(in > 0 && out > 0, "Linear: sizes must be positive, got in=", in, " out=", out);
  weight = register_parameter("weight", Tensor::zeros({out, in}, dtype));
  if (has_bias) bias = register_parameter("bias", Tensor::zeros({out}, dtype));
}

Var Linear::forward(const Var& x) const {
  LOUPE_CHECK(x.dim() >= 1 && x.size(-1) == in_features, "Linear: input ", x.value().str(),
              " does not end in in_features=", in_features);
  return linear(x, weight, bias);
}

Var linear(const Var& x, const Var& weight, const Var& bias) {
  // Wᵀ is a transposed view: the GEMM reads W through swapped strides, nothing is copied.
  Var y = matmul(x, transpose(weight, 0, 1));
  return bias.defined() ? y + bias : y;
}

}  // namespace loupe::nn
