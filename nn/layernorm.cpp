#include "nn/layernorm.h"

#include "autograd/nn_ops.h"

namespace loupe::nn {

LayerNorm::LayerNorm(int64_t dim, bool has_bias, double eps_, DType dtype) : eps(eps_) {
  weight = register_parameter("weight", Tensor::ones({dim}, dtype));
  if (has_bias) bias = register_parameter("bias", Tensor::zeros({dim}, dtype));
}

Var LayerNorm::forward(const Var& x) const { return layer_norm(x, weight, bias, eps); }

}  // namespace loupe::nn
