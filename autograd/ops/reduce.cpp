// Reductions on Vars. Each backward first puts the reduced dims back as size 1
// (the keepdim shape), then broadcasts over them.
#include "autograd/ops.h"
#include "tensor/kernels/elementwise.h"
#include "tensor/kernels/reduce.h"

namespace loupe {

using Grads = std::vector<Tensor>;

// The gradient of a reduced output viewed with the reduced dims kept as size 1.
static Tensor keepdim_view(const Tensor& g, const Shape& xshape, const std::vector<bool>& mask) {
  return g.reshape(kernels::reduced_shape(xshape, mask, true));
}

LOUPE_REGISTER_OP("sum");
Var sum(const Var& x, const std::vector<int64_t>& dims, bool keepdim) {  // d sum = 1 for every element
  const Shape xs = x.shape();
  const auto mask = kernels::reduce_mask("sum", x.dim(), dims);
  return make_result("sum", sum(x.value(), dims, keepdim), {x}, [xs, mask](const Tensor& g) {
    return Grads{keepdim_view(g, xs, mask).expand(xs).contiguous()};
  });
}

LOUPE_REGISTER_OP("mean");
Var mean(const Var& x, const std::vector<int64_t>& dims, bool keepdim) {  // d mean = 1/n
  const Shape xs = x.shape();
  const auto mask = kernels::reduce_mask("mean", x.dim(), dims);
  const double n = double(kernels::reduced_count(xs, mask));
  return make_result("mean", mean(x.value(), dims, keepdim), {x}, [xs, mask, n](const Tensor& g) {
    Tensor gx = Tensor::empty(xs, g.dtype());
    gx.copy_(keepdim_view(g, xs, mask));
    mul_(gx, 1.0 / n);
    return Grads{gx};
  });
}

// amax/amin: the gradient goes to the elements equal to the extreme, split equally
// among ties: dx = g * [x == m] / count(x == m).
static Var extreme(const char* op, const Var& x, const std::vector<int64_t>& dims, bool keepdim, bool is_max) {
  const Tensor xv = x.value();
  const auto mask = kernels::reduce_mask(op, x.dim(), dims);
  Tensor m = is_max ? amax(xv, dims, true) : amin(xv, dims, true);
  Tensor out = keepdim ? m : m.reshape(kernels::reduced_shape(xv.shape(), mask, false));
  return make_result(op, out, {x}, [xv, m, mask, dims](const Tensor& g) {
    const Tensor hit = eq(xv, m);
    const Tensor count = sum(hit, dims, true);
    return Grads{mul(hit, div(keepdim_view(g, xv.shape(), mask), count))};
  });
}
LOUPE_REGISTER_OP("amax");
Var amax(const Var& x, const std::vector<int64_t>& dims, bool keepdim) { return extreme("amax", x, dims, keepdim, true); }
LOUPE_REGISTER_OP("amin");
Var amin(const Var& x, const std::vector<int64_t>& dims, bool keepdim) { return extreme("amin", x, dims, keepdim, false); }

LOUPE_REGISTER_OP("var");
// var = sum((x - mu)^2) / (n - c);  d var / dx = 2 (x - mu) / (n - c)  (the mu term sums to zero).
Var var(const Var& x, const std::vector<int64_t>& dims, bool keepdim, int64_t correction) {
  const Tensor xv = x.value();
  const auto mask = kernels::reduce_mask("var", x.dim(), dims);
  const double denom = double(kernels::reduced_count(xv.shape(), mask) - correction);
  return make_result("var", var(xv, dims, keepdim, correction), {x}, [xv, mask, dims, denom](const Tensor& g) {
    const Tensor centered = sub(xv, mean(xv, dims, true));
    return Grads{mul(mul(centered, keepdim_view(g, xv.shape(), mask)), 2.0 / denom)};
  });
}

}  // namespace loupe
