// The position-wise feed-forward layers behind one interface, so a block holds one
// `Child<FeedForward>` whose kind is chosen once (GELU MLP, SwiGLU, Wiola's dual stream...).
#pragma once
#include "nn/module.h"

namespace loupe::nn {

class FeedForward : public Module {
 public:
  virtual Var forward(const Var& x) const = 0;  // [..., d] -> [..., d]
};

}  // namespace loupe::nn
