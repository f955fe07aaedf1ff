// Joining and indexing ops. Forward kernels: tensor/kernels/index.cpp.
// Each backward sends every output gradient element back to the one input
// element it was copied from (adding where an input element was used twice).
#include "autograd/ops.h"
#include "tensor/kernels/index.h"

namespace loupe {

LOUPE_REGISTER_OP("concat");
LOUPE_REGISTER_OP("stack");
LOUPE_REGISTER_OP("split");
LOUPE_REGISTER_OP("gather");
LOUPE_REGISTER_OP("index_select");
LOUPE_REGISTER_OP("scatter_add");
LOUPE_REGISTER_OP("embedding");

static int64_t wrapped(int64_t dim, int64_t rank) { return dim < 0 ? dim + rank : dim; }

// y = [x_0 | x_1 | ...] along dim;  dx_k = the slice of g that x_k filled.
Var concat(const std::vector<Var>& xs, int64_t dim) {
  std::vector<Tensor> vals;
  for (auto& x : xs) vals.push_back(x.value());
  Tensor out = concat(vals, dim);
  const int64_t d = wrapped(dim, out.dim());
  std::vector<int64_t> sizes;
  for (auto& v : vals) sizes.push_back(v.shape()[size_t(d)]);
  return make_result("concat", out, xs, [sizes, d](const Tensor& g) { return split(g, sizes, d); });
}

// y[..., k, ...] = x_k along a new dim;  dx_k = g selected at k.
Var stack(const std::vector<Var>& xs, int64_t dim) {
  std::vector<Tensor> vals;
  for (auto& x : xs) vals.push_back(x.value());
  Tensor out = stack(vals, dim);
  const int64_t d = wrapped(dim, out.dim());
  const size_t K = xs.size();
  return make_result("stack", out, xs, [K, d](const Tensor& g) {
    std::vector<Tensor> gs;
    for (size_t k = 0; k < K; ++k) gs.push_back(g.select(d, int64_t(k)));
    return gs;
  });
}

// Each part is a view of x (narrow); its gradient is added into that part of dx.
std::vector<Var> split(const Var& x, const std::vector<int64_t>& sizes, int64_t dim) {
  (void)split(x.value(), sizes, dim);  // checks the sizes against x
  const int64_t d = wrapped(dim, x.dim());
  std::vector<Var> out;
  int64_t start = 0;
  for (const int64_t len : sizes) {
    out.push_back(make_part_result("split", x, [d, start, len](const Tensor& t) { return t.narrow(d, start, len); }));
    start += len;
  }
  return out;
}

// y[i] = x[i with i_dim = index[i]];  dx = scatter_add(0, dim, index, g).
Var gather(const Var& x, int64_t dim, const Tensor& index) {
  const Shape shape = x.shape();
  const DType dt = x.dtype();
  return make_result("gather", gather(x.value(), dim, index), {x},
                     [shape, dt, dim, index](const Tensor& g) -> std::vector<Tensor> {
                       return {scatter_add(Tensor::zeros(shape, dt), dim, index, g)};
                     });
}

// y[..., k, ...] = x[..., index[k], ...];  dx[..., index[k], ...] += g[..., k, ...].
Var index_select(const Var& x, int64_t dim, const Tensor& index) {
  const Shape shape = x.shape();
  return make_result("index_select", index_select(x.value(), dim, index), {x},
                     [shape, dim, index](const Tensor& g) -> std::vector<Tensor> {
                       return {index_select_backward(g, shape, dim, index)};
                     });
}

// y = x with src[i] added at (i with i_dim = index[i]);  dx = g;  dsrc[i] = g[i with i_dim = index[i]]
// (zero where src is larger than index and so was never read).
Var scatter_add(const Var& x, int64_t dim, const Tensor& index, const Var& src) {
  const Shape src_shape = src.shape();
  return make_result("scatter_add", scatter_add(x.value(), dim, index, src.value()), {x, src},
                     [src_shape, dim, index](const Tensor& g) -> std::vector<Tensor> {
                       Tensor gs = gather(g, dim, index);
                       if (gs.shape() != src_shape) {
                         Tensor full = Tensor::zeros(src_shape, g.dtype());
                         Tensor region = full;
                         for (int64_t j = 0; j < full.dim(); ++j) region = region.narrow(j, 0, gs.shape()[size_t(j)]);
                         region.copy_(gs);
                         gs = full;
                       }
                       return {g, gs};
                     });
}

// y[p] = weight[ids[p]];  dweight[v] = sum of g[p] over positions with ids[p] == v.
Var embedding(const Var& weight, const Tensor& ids) {
  Tensor out = embedding(weight.value(), ids);  // checks shapes and ids first
  const int64_t vocab = weight.size(0);
  return make_result("embedding", out, {weight},
                     [ids, vocab](const Tensor& g) -> std::vector<Tensor> {
                       return {embedding_backward(g, ids, vocab)};
                     });
}

}  // namespace loupe
