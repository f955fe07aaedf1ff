// cumsum: y_i = sum_{k <= i} x_k along dim, so dL/dx_k = sum_{i >= k} g_i,
// the cumulative sum of the gradient taken from the other end.
#include "autograd/ops.h"
#include "tensor/kernels/scan.h"

namespace loupe {

LOUPE_REGISTER_OP("cumsum");

Var cumsum(const Var& x, int64_t dim) {
  return make_result("cumsum", cumsum(x.value(), dim), {x}, [dim](const Tensor& g) -> std::vector<Tensor> {
    return {cumsum_reverse(g, dim)};
  });
}

}  // namespace loupe
