// SwiGLU feed-forward (Shazeer 2020, as in LLaMA): y = w2(SiLU(w1 x) ⊙ w3 x), no biases.
#pragma once
#include <memory>

#include "nn/dropout.h"
#include "nn/linear.h"

namespace loupe::nn {

// LLaMA's hidden width: 2/3 of 4·dim, rounded up to a multiple of `multiple_of`.
int64_t swiglu_hidden(int64_t dim, int64_t multiple_of = 32);

class SwiGLU : public Module {
 public:
  SwiGLU(int64_t dim, int64_t hidden, double dropout, uint64_t seed, DType dtype = DType::F32);
  Var forward(const Var& x);

  std::shared_ptr<Linear> w1, w2, w3;
  std::shared_ptr<Dropout> drop;
};

}  // namespace loupe::nn
