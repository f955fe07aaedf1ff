// GPT-2's MLP: y = Dropout(c_proj(GELU(c_fc(x)))), hidden width 4·d by default.
#pragma once
#include <memory>

#include "nn/dropout.h"
#include "nn/linear.h"

namespace loupe::nn {

class MLP : public Module {
 public:
  // tanh_gelu: GPT-2's tanh approximation instead of nanoGPT's exact nn.GELU().
  MLP(int64_t dim, int64_t hidden, bool bias, double dropout, uint64_t seed, bool tanh_gelu = false,
      DType dtype = DType::F32);
  Var forward(const Var& x);

  std::shared_ptr<Linear> c_fc, c_proj;
  std::shared_ptr<Dropout> drop;
  bool tanh_gelu;
};

}  // namespace loupe::nn
