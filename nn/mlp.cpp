#include "nn/mlp.h"

#include "autograd/ops.h"
#include "nn/init.h"

namespace loupe::nn {

MLP::MLP(int64_t dim, int64_t hidden, bool bias, double dropout, uint64_t seed, bool tanh_gelu_, DType dtype)
    : tanh_gelu(tanh_gelu_) {
  c_fc = register_module("c_fc", std::make_shared<Linear>(dim, hidden, bias, dtype));
  c_proj = register_module("c_proj", std::make_shared<Linear>(hidden, dim, bias, dtype));
  drop = register_module("drop", std::make_shared<Dropout>(dropout, param_seed(seed, "mlp.drop")));
}

Var MLP::forward(const Var& x) {
  Var h = c_fc->forward(x);
  h = tanh_gelu ? gelu_tanh(h) : gelu(h);
  return drop->forward(c_proj->forward(h));
}

}  // namespace loupe::nn
