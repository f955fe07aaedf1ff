// View ops on Vars: the forward is the Tensor view (no copy, shared storage); the
// backward maps the output gradient back onto the input's shape.
#include "autograd/ops.h"

namespace loupe {

using Grads = std::vector<Tensor>;

static int64_t wrap(int64_t d, int64_t ndim) { return d < 0 ? d + ndim : d; }

LOUPE_REGISTER_OP("reshape");
Var reshape(const Var& x, const Shape& shape) {
  const Shape xs = x.shape();
  return make_result("reshape", x.value().reshape(shape), {x}, [xs](const Tensor& g) { return Grads{g.reshape(xs)}; });
}

LOUPE_REGISTER_OP("permute");
Var permute(const Var& x, const std::vector<int64_t>& dims) {  // backward: the inverse permutation
  Tensor out = x.value().permute(dims);
  std::vector<int64_t> inv(dims.size());
  for (size_t i = 0; i < dims.size(); ++i) inv[size_t(wrap(dims[i], x.dim()))] = int64_t(i);
  return make_result("permute", out, {x}, [inv](const Tensor& g) { return Grads{g.permute(inv)}; });
}

LOUPE_REGISTER_OP("transpose");
Var transpose(const Var& x, int64_t d0, int64_t d1) {  // its own inverse
  return make_result("transpose", x.value().transpose(d0, d1), {x},
                     [d0, d1](const Tensor& g) { return Grads{g.transpose(d0, d1)}; });
}

// narrow, slice and select: the output is a part of x, so the engine adds g into that part
// of x's gradient (make_part_result) and the rest of x's gradient stays zero.
LOUPE_REGISTER_OP("narrow");
Var narrow(const Var& x, int64_t dim, int64_t start, int64_t length) {
  return make_part_result("narrow", x, [=](const Tensor& t) { return t.narrow(dim, start, length); });
}

LOUPE_REGISTER_OP("slice");
Var slice(const Var& x, int64_t dim, int64_t start, int64_t end, int64_t step) {
  return make_part_result("slice", x, [=](const Tensor& t) { return t.slice(dim, start, end, step); });
}

LOUPE_REGISTER_OP("select");
Var select(const Var& x, int64_t dim, int64_t index) {
  return make_part_result("select", x, [=](const Tensor& t) { return t.select(dim, index); });
}

LOUPE_REGISTER_OP("expand");
Var expand(const Var& x, const Shape& shape) {  // backward: sum over the broadcast dims
  const Shape xs = x.shape();
  return make_result("expand", x.value().expand(shape), {x}, [xs](const Tensor& g) { return Grads{sum_to_shape(g, xs)}; });
}

LOUPE_REGISTER_OP("squeeze");
Var squeeze(const Var& x, int64_t dim) {
  const int64_t d = wrap(dim, x.dim());
  return make_result("squeeze", x.value().squeeze(dim), {x}, [d](const Tensor& g) { return Grads{g.unsqueeze(d)}; });
}

LOUPE_REGISTER_OP("unsqueeze");
Var unsqueeze(const Var& x, int64_t dim) {
  const int64_t d = wrap(dim, x.dim() + 1);
  return make_result("unsqueeze", x.value().unsqueeze(dim), {x}, [d](const Tensor& g) { return Grads{g.squeeze(d)}; });
}

LOUPE_REGISTER_OP("contiguous");
Var contiguous(const Var& x) {
  return make_result("contiguous", x.value().contiguous(), {x}, [](const Tensor& g) { return Grads{g}; });
}

}  // namespace loupe
