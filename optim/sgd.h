// SGD with optional momentum and Nesterov momentum (PyTorch's torch.optim.SGD, dampening 0):
//   g ← scale·grad + wd·p
//   b ← μ·b + g                       (momentum buffer; starts at 0, so b₁ = g₁)
//   d ← g + μ·b  (Nesterov)  or  b  (momentum)  or  g  (plain)
//   p ← p − lr·d
#pragma once
#include "optim/optimizer.h"

namespace loupe::optim {

struct SGDOptions {
  double momentum = 0.0;
  bool nesterov = false;
};

class SGD : public Optimizer {
 public:
  SGD(std::vector<ParamGroup> groups, SGDOptions opt = {});

 protected:
  void update(const Tensor& value, const Tensor& grad, std::vector<Tensor>& slots, double lr, double weight_decay,
              double grad_scale, int64_t t, int64_t begin, int64_t end) override;

 private:
  SGDOptions opt_;
};

}  // namespace loupe::optim
