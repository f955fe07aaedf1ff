#include "nn/mlp.h"

#include "autograd/ops.h"

namespace loupe::nn {

MLP::MLP(int64_t dim, int64_t hidden, bool bias, double dropout, bool tanh_gelu_, DType dtype)
    : tanh_gelu(tanh_gelu_) {
  c_fc = register_module("c_fc", std::make_shared<Linear>(dim, hidden, bias, dtype));
  c_proj = register_module("c_proj", std::make_shared<Linear>(hidden, dim, bias, dtype));
  drop = register_module("drop", std::make_shared<Dropout>(dropout));
}

Var MLP::forward(const Var& x) const {
  Var h = c_fc(x);
  h = tanh_gelu ? gelu_tanh(h) : gelu(h);
  return drop(c_proj(h));
}

}  // namespace loupe::nn
