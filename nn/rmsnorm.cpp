#include "nn/rmsnorm.h"

#include "autograd/nn_ops.h"

namespace loupe::nn {

RMSNorm::RMSNorm(int64_t dim, double eps_, DType dtype) : eps(eps_) {
  weight = register_parameter("weight", Tensor::ones({dim}, dtype));
}

Var RMSNorm::forward(const Var& x) const { return rms_norm(x, weight, eps); }

}  // namespace loupe::nn
