#include "nn/swiglu.h"

#include "autograd/ops.h"

namespace loupe::nn {

int64_t swiglu_hidden(int64_t dim, int64_t multiple_of) {
  LOUPE_CHECK(dim > 0 && multiple_of > 0, "swiglu_hidden: dim and multiple_of must be positive");
  const int64_t h = 2 * (4 * dim) / 3;
  return (h + multiple_of - 1) / multiple_of * multiple_of;
}

SwiGLU::SwiGLU(int64_t dim, int64_t hidden, double dropout, DType dtype) {
  w1 = register_module("w1", std::make_shared<Linear>(dim, hidden, false, dtype));
  w2 = register_module("w2", std::make_shared<Linear>(hidden, dim, false, dtype));
  w3 = register_module("w3", std::make_shared<Linear>(dim, hidden, false, dtype));
  drop = register_module("drop", std::make_shared<Dropout>(dropout));
}

Var SwiGLU::forward(const Var& x) const {
  return drop(w2(silu(w1(x)) * w3(x)));
}

}  // namespace loupe::nn
