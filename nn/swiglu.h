// SwiGLU feed-forward (Shazeer 2020, as in LLaMA): y = w2(SiLU(w1 x) ⊙ w3 x), no biases.
#pragma once
#include <memory>

#include "nn/dropout.h"
#include "nn/feed_forward.h"
#include "nn/linear.h"

namespace loupe::nn {

// LLaMA's hidden width: 2/3 of 4·dim, rounded up to a multiple of `multiple_of`.
int64_t swiglu_hidden(int64_t dim, int64_t multiple_of = 32);

class SwiGLU : public FeedForward {
 public:
  SwiGLU(int64_t dim, int64_t hidden, double dropout, DType dtype = DType::F32);
  Var forward(const Var& x) const override;

  Child<Linear> w1, w2, w3;
  Child<Dropout> drop;
};

}  // namespace loupe::nn
