#include "nn/norm.h"

#include "nn/layernorm.h"
#include "nn/rmsnorm.h"

namespace loupe::nn {

std::shared_ptr<Norm> make_norm(const std::string& kind, int64_t dim, bool bias, double eps, DType dtype) {
  if (kind == "layernorm") return std::make_shared<LayerNorm>(dim, bias, eps, dtype);
  if (kind == "rmsnorm") return std::make_shared<RMSNorm>(dim, eps, dtype, bias);
  if (kind == "plain") return std::make_shared<LayerNorm>(dim, false, eps, dtype, /*affine=*/false);
  LOUPE_CHECK(false, "make_norm: unknown norm '", kind, "' (known: layernorm, rmsnorm, plain)");
  return nullptr;
}

int64_t norm_parameters(const std::string& kind, int64_t dim, bool bias) {
  return kind == "plain" ? 0 : dim * (bias ? 2 : 1);
}

}  // namespace loupe::nn
