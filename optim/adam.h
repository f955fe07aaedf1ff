// Adam (Kingma & Ba 2015) and AdamW (Loshchilov & Hutter 2019), as torch.optim.Adam / AdamW:
//   AdamW:  p ← p·(1 − lr·wd)          decoupled weight decay, before the moment update
//   Adam:   g ← g + wd·p               L2 penalty folded into the gradient
//   m ← β₁·m + (1−β₁)·g
//   v ← β₂·v + (1−β₂)·g²
//   p ← p − (lr / (1−β₁ᵗ)) · m / (√v / √(1−β₂ᵗ) + ε)
// where g = grad_scale·grad and t counts steps from 1.
#pragma once
#include "optim/optimizer.h"

namespace loupe::optim {

struct AdamOptions {
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  bool decoupled_weight_decay = false;  // true: AdamW
};

class Adam : public Optimizer {
 public:
  Adam(std::vector<ParamGroup> groups, AdamOptions opt = {});
  const AdamOptions& options() const { return opt_; }

 protected:
  void update(const Tensor& value, const Tensor& grad, std::vector<Tensor>& slots, double lr, double weight_decay,
              double grad_scale, int64_t t, int64_t begin, int64_t end) override;

 private:
  AdamOptions opt_;
};

// AdamW: Adam with decoupled weight decay.
class AdamW : public Adam {
 public:
  AdamW(std::vector<ParamGroup> groups, AdamOptions opt = {})
      : Adam(std::move(groups), (opt.decoupled_weight_decay = true, opt)) {}
};

}  // namespace loupe::optim
