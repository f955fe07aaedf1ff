// The normalisation layers behind one interface, so a model holds one `Child<Norm>` member
// whose kind is chosen once from its config (no either-or member pairs):
//   "layernorm"   LayerNorm: g ⊙ (x − mean) / sqrt(var + eps) + b   (b only with bias)
//   "rmsnorm"     RMSNorm:   g ⊙ x / sqrt(mean(x²) + eps) + β   (β, Wiola's offset, only with bias)
//   "plain"       LayerNorm without gain or bias (ELiTA's parameter-free norm)
#pragma once
#include <memory>
#include <string>

#include "nn/module.h"

namespace loupe::nn {

class Norm : public Module {
 public:
  virtual Var forward(const Var& x) const = 0;  // over the last dim
};

std::shared_ptr<Norm> make_norm(const std::string& kind, int64_t dim, bool bias, double eps, DType dtype);
// The parameters make_norm(kind, dim, bias, ...) has.
int64_t norm_parameters(const std::string& kind, int64_t dim, bool bias);

}  // namespace loupe::nn
