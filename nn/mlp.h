// GPT-2's MLP: y = Dropout(c_proj(GELU(c_fc(x)))), hidden width 4·d by default.
#pragma once
#include <memory>

#include "nn/dropout.h"
#include "nn/feed_forward.h"
#include "nn/linear.h"

namespace loupe::nn {

class MLP : public FeedForward {
 public:
  // tanh_gelu: GPT-2's tanh approximation instead of nanoGPT's exact nn.GELU().
  MLP(int64_t dim, int64_t hidden, bool bias, double dropout, bool tanh_gelu = false, DType dtype = DType::F32);
  Var forward(const Var& x) const override;

  Child<Linear> c_fc, c_proj;
  Child<Dropout> drop;
  bool tanh_gelu;
};

}  // namespace loupe::nn
