#include "nn/layernorm.h"

#include "autograd/nn_ops.h"

namespace loupe::nn {

LayerNorm::LayerNorm(int64_t dim, bool has_bias, double eps_, DType dtype, bool affine) : eps(eps_) {
  LOUPE_CHECK(dim > 0, "LayerNorm: dim must be positive, got ", dim);
  if (affine) weight = register_parameter("weight", Tensor::ones({dim}, dtype));
  if (affine && has_bias) bias = register_parameter("bias", Tensor::zeros({dim}, dtype));
  // Without a gain the op gets a constant one (no gradient), made once.
  if (!affine) ones_ = Var(Tensor::ones({dim}, dtype));
}

Var LayerNorm::forward(const Var& x) const { return layer_norm(x, weight.defined() ? weight : ones_, bias, eps); }

}  // namespace loupe::nn
