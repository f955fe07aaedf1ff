#include "nn/rmsnorm.h"

#include "autograd/nn_ops.h"
#include "autograd/ops.h"

namespace loupe::nn {

RMSNorm::RMSNorm(int64_t dim, double eps_, DType dtype, bool has_bias) : eps(eps_) {
  LOUPE_CHECK(dim > 0, "RMSNorm: dim must be positive, got ", dim);
  weight = register_parameter("weight", Tensor::ones({dim}, dtype));
  if (has_bias) bias = register_parameter("bias", Tensor::zeros({dim}, dtype));
}

Var RMSNorm::forward(const Var& x) const {
  const Var y = rms_norm(x, weight, eps);
  return bias.defined() ? y + bias : y;
}

}  // namespace loupe::nn
