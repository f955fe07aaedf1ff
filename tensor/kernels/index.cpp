// concat, stack, split, gather, index_select, scatter_add, embedding and the
// backwards of index_select and embedding.
//
// Indices are i64 and checked before any parallel work starts, so a bad index
// throws a clear loupe::Error (never a crash inside a thread). Every output
// element is written by exactly one task, and accumulations run in index order:
// results are bitwise identical for any thread count.
#include "tensor/kernels/index.h"

#include <cstring>

#include "tensor/ops.h"
#include "tensor/parallel.h"

namespace loupe {
namespace {

int64_t wrap_dim(const char* op, int64_t dim, int64_t rank, const Tensor& x) {
  LOUPE_CHECK(rank >= 1, op, ": needs a tensor with at least one dim, got ", x.str());
  LOUPE_CHECK(dim >= -rank && dim < rank, op, ": dim ", dim, " out of range for ", x.str());
  return dim < 0 ? dim + rank : dim;
}

// Product of shape[b:e].
int64_t prod(const Shape& s, int64_t b, int64_t e) {
  int64_t p = 1;
  for (int64_t k = b; k < e; ++k) p *= s[size_t(k)];
  return p;
}

// A grain (items per task) so that each task moves about 64K elements.
int64_t grain_for(int64_t work_per_item) { return std::max<int64_t>(1, (int64_t(1) << 16) / std::max<int64_t>(work_per_item, 1)); }

void check_index_tensor(const char* op, const Tensor& index) {
  LOUPE_CHECK(index.defined() && index.dtype() == DType::I64, op, ": index must be an i64 tensor, got ", index.str());
}

// Every value of the (contiguous) index must lie in [0, limit).
void check_index_values(const char* op, const Tensor& index, int64_t limit, int64_t dim, const Tensor& x) {
  const int64_t* p = index.data<int64_t>();
  for (int64_t i = 0, n = index.numel(); i < n; ++i)
    LOUPE_CHECK(p[i] >= 0 && p[i] < limit, op, ": index ", p[i], " at flat position ", i, " is out of range for dim ",
                dim, " of size ", limit, " (x ", x.str(), ")");
}

// Calls f(off_a, off_b, off_c) for every "line" of `shape` along `dim`, i.e. for every
// coordinate of the other dims, with the element offsets of that coordinate in
// three strided operands (the dim's own coordinate is 0). Lines run in parallel:
// two lines never share an output element in gather/scatter_add.
template <typename F>
void for_each_line(const Shape& shape, int64_t dim, const Shape& sa, const Shape& sb, const Shape& sc, F&& f) {
  const int64_t rank = int64_t(shape.size());
  const int64_t len = shape[size_t(dim)];
  const int64_t lines = len == 0 ? 0 : shape_numel(shape) / len;
  parallel_for(lines, grain_for(len), [&](int64_t b, int64_t e) {
    for (int64_t l = b; l < e; ++l) {
      int64_t rest = l, oa = 0, ob = 0, oc = 0;
      for (int64_t d = rank - 1; d >= 0; --d) {
        if (d == dim) continue;
        const int64_t i = rest % shape[size_t(d)];
        rest /= shape[size_t(d)];
        oa += i * sa[size_t(d)];
        ob += i * sb[size_t(d)];
        oc += i * sc[size_t(d)];
      }
      f(oa, ob, oc);
    }
  });
}

}  // namespace

// ---------------------------------------------------------------- concat / stack / split
Tensor concat(const std::vector<Tensor>& xs, int64_t dim) {
  LOUPE_CHECK(!xs.empty(), "concat: needs at least one tensor");
  const Tensor& x0 = xs[0];
  LOUPE_CHECK(x0.defined(), "concat: tensor 0 is undefined");
  const int64_t d = wrap_dim("concat", dim, x0.dim(), x0);
  Shape out_shape = x0.shape();
  out_shape[size_t(d)] = 0;
  for (size_t k = 0; k < xs.size(); ++k) {
    const Tensor& x = xs[k];
    LOUPE_CHECK(x.defined() && x.dtype() == x0.dtype() && x.dim() == x0.dim(), "concat: tensor ", k, " is ", x.str(),
                ", tensor 0 is ", x0.str());
    for (int64_t j = 0; j < x.dim(); ++j)
      LOUPE_CHECK(j == d || x.shape()[size_t(j)] == x0.shape()[size_t(j)], "concat: tensor ", k, " ", x.str(),
                  " differs from tensor 0 ", x0.str(), " in dim ", j, " (joining along dim ", d, ")");
    out_shape[size_t(d)] += x.shape()[size_t(d)];
  }
  Tensor out = Tensor::empty(out_shape, x0.dtype());
  if (out.numel() == 0) return out;
  // View everything as [outer, n_k * inner] rows; piece k goes to columns [col_k, col_k + n_k * inner).
  const int64_t outer = prod(out_shape, 0, d), inner = prod(out_shape, d + 1, int64_t(out_shape.size()));
  const int64_t row = out_shape[size_t(d)] * inner;
  const size_t es = dtype_size(x0.dtype());
  std::vector<Tensor> cs;
  std::vector<int64_t> col;
  int64_t c = 0;
  for (auto& x : xs) {
    cs.push_back(x.contiguous());
    col.push_back(c);
    c += x.shape()[size_t(d)] * inner;
  }
  char* po = static_cast<char*>(out.raw_data());
  const int64_t K = int64_t(xs.size());
  parallel_for(outer * K, grain_for(row / K), [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t) {
      const int64_t o = t / K, k = t % K;
      const int64_t w = cs[size_t(k)].shape()[size_t(d)] * inner;
      const char* src = static_cast<const char*>(cs[size_t(k)].raw_data()) + size_t(o * w) * es;
      if (w) std::memcpy(po + size_t(o * row + col[size_t(k)]) * es, src, size_t(w) * es);
    }
  });
  return out;
}

Tensor stack(const std::vector<Tensor>& xs, int64_t dim) {
  LOUPE_CHECK(!xs.empty(), "stack: needs at least one tensor");
  LOUPE_CHECK(xs[0].defined(), "stack: tensor 0 is undefined");
  const int64_t rank = xs[0].dim() + 1;
  LOUPE_CHECK(dim >= -rank && dim < rank, "stack: dim ", dim, " out of range for stacking ", xs[0].str());
  const int64_t d = dim < 0 ? dim + rank : dim;
  std::vector<Tensor> us;
  for (size_t k = 0; k < xs.size(); ++k) {
    LOUPE_CHECK(xs[k].defined() && xs[k].shape() == xs[0].shape() && xs[k].dtype() == xs[0].dtype(), "stack: tensor ",
                k, " is ", xs[k].str(), ", tensor 0 is ", xs[0].str(), " (all must match)");
    us.push_back(xs[k].unsqueeze(d));
  }
  return concat(us, d);
}

std::vector<Tensor> split(const Tensor& x, const std::vector<int64_t>& sizes, int64_t dim) {
  LOUPE_CHECK(x.defined(), "split: undefined tensor");
  const int64_t d = wrap_dim("split", dim, x.dim(), x);
  int64_t total = 0;
  for (int64_t s : sizes) {
    LOUPE_CHECK(s >= 0, "split: negative size ", s, " for ", x.str());
    total += s;
  }
  LOUPE_CHECK(total == x.shape()[size_t(d)], "split: sizes sum to ", total, " but dim ", d, " of ", x.str(), " has ",
              x.shape()[size_t(d)]);
  std::vector<Tensor> parts;
  int64_t start = 0;
  for (int64_t s : sizes) {
    parts.push_back(x.narrow(d, start, s));
    start += s;
  }
  return parts;
}

// ---------------------------------------------------------------- gather / scatter_add
// out[i] = x[i with i_dim replaced by index[i]]
Tensor gather(const Tensor& x, int64_t dim, const Tensor& index) {
  LOUPE_CHECK(x.defined(), "gather: undefined tensor");
  check_index_tensor("gather", index);
  const int64_t d = wrap_dim("gather", dim, x.dim(), x);
  LOUPE_CHECK(index.dim() == x.dim(), "gather: index ", index.str(), " must have the rank of x ", x.str());
  for (int64_t j = 0; j < x.dim(); ++j)
    LOUPE_CHECK(j == d || index.shape()[size_t(j)] <= x.shape()[size_t(j)], "gather: index ", index.str(),
                " is larger than x ", x.str(), " in dim ", j);
  const Tensor idx = index.contiguous();
  check_index_values("gather", idx, x.shape()[size_t(d)], d, x);
  Tensor out = Tensor::empty(index.shape(), x.dtype());
  if (out.numel() == 0) return out;
  const int64_t len = index.shape()[size_t(d)];
  const int64_t xs_d = x.strides()[size_t(d)], os_d = out.strides()[size_t(d)];
  LOUPE_DISPATCH_ALL(x.dtype(), T, {
    const T* px = x.data<T>();
    const int64_t* pi = idx.data<int64_t>();
    T* po = out.data<T>();
    for_each_line(index.shape(), d, x.strides(), out.strides(), out.strides(), [&](int64_t ox, int64_t oo, int64_t) {
      for (int64_t k = 0; k < len; ++k) po[oo + k * os_d] = px[ox + pi[oo + k * os_d] * xs_d];
    });
  });
  return out;
}

// out = x; out[i with i_dim replaced by index[i]] += src[i], for i over index's shape.
Tensor scatter_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src) {
  LOUPE_CHECK(x.defined() && src.defined(), "scatter_add: undefined tensor");
  check_index_tensor("scatter_add", index);
  LOUPE_CHECK(x.dtype() == src.dtype(), "scatter_add: x ", x.str(), " and src ", src.str(), " differ in dtype");
  const int64_t d = wrap_dim("scatter_add", dim, x.dim(), x);
  LOUPE_CHECK(index.dim() == x.dim() && src.dim() == x.dim(), "scatter_add: x ", x.str(), ", index ", index.str(),
              " and src ", src.str(), " must have the same rank");
  for (int64_t j = 0; j < x.dim(); ++j) {
    const int64_t n = index.shape()[size_t(j)];
    LOUPE_CHECK(n <= src.shape()[size_t(j)] && (j == d || n <= x.shape()[size_t(j)]), "scatter_add: index ",
                index.str(), " is larger than src ", src.str(), " or x ", x.str(), " in dim ", j);
  }
  const Tensor idx = index.contiguous();
  check_index_values("scatter_add", idx, x.shape()[size_t(d)], d, x);
  Tensor out = x.clone();
  if (idx.numel() == 0) return out;
  const int64_t len = index.shape()[size_t(d)];
  const int64_t os_d = out.strides()[size_t(d)], ss_d = src.strides()[size_t(d)];
  const int64_t is_d = idx.strides()[size_t(d)];
  // One line of index (fixed other coords) only touches the matching line of out: no races,
  // and repeated indices accumulate in k order.
  LOUPE_DISPATCH_ALL(x.dtype(), T, {
    const T* ps = src.data<T>();
    const int64_t* pi = idx.data<int64_t>();
    T* po = out.data<T>();
    for_each_line(index.shape(), d, out.strides(), src.strides(), idx.strides(), [&](int64_t oo, int64_t os, int64_t oi) {
      for (int64_t k = 0; k < len; ++k) po[oo + pi[oi + k * is_d] * os_d] += ps[os + k * ss_d];
    });
  });
  return out;
}

// ---------------------------------------------------------------- index_select
// out[..., k, ...] = x[..., index[k], ...] along dim; x viewed as [outer, n, inner].
Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index) {
  LOUPE_CHECK(x.defined(), "index_select: undefined tensor");
  check_index_tensor("index_select", index);
  const int64_t d = wrap_dim("index_select", dim, x.dim(), x);
  LOUPE_CHECK(index.dim() == 1, "index_select: index must be 1-D, got ", index.str());
  const Tensor idx = index.contiguous();
  check_index_values("index_select", idx, x.shape()[size_t(d)], d, x);
  Shape out_shape = x.shape();
  const int64_t m = idx.numel(), n = x.shape()[size_t(d)];
  out_shape[size_t(d)] = m;
  Tensor out = Tensor::empty(out_shape, x.dtype());
  if (out.numel() == 0) return out;
  const Tensor xc = x.contiguous();
  const int64_t outer = prod(x.shape(), 0, d), inner = prod(x.shape(), d + 1, x.dim());
  const size_t es = dtype_size(x.dtype());
  const char* px = static_cast<const char*>(xc.raw_data());
  char* po = static_cast<char*>(out.raw_data());
  const int64_t* pi = idx.data<int64_t>();
  parallel_for(outer * m, grain_for(inner), [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t) {
      const int64_t o = t / m, k = t % m;
      std::memcpy(po + size_t(t * inner) * es, px + size_t((o * n + pi[k]) * inner) * es, size_t(inner) * es);
    }
  });
  return out;
}

// gx[o, index[k], j] += g[o, k, j]. Tasks own (o, block of j) and walk k in order,
// so repeated indices accumulate without races and in a fixed order.
Tensor index_select_backward(const Tensor& g, const Shape& x_shape, int64_t dim, const Tensor& index) {
  LOUPE_CHECK(g.defined() && is_floating(g.dtype()), "index_select_backward: expected a float gradient, got ", g.str());
  check_index_tensor("index_select_backward", index);
  const int64_t rank = int64_t(x_shape.size());
  const int64_t d = wrap_dim("index_select_backward", dim, rank, g);
  Shape expect = x_shape;
  expect[size_t(d)] = index.numel();
  LOUPE_CHECK(g.shape() == expect, "index_select_backward: gradient ", g.str(), " should be ", shape_str(expect));
  const Tensor idx = index.contiguous();
  Tensor out = Tensor::zeros(x_shape, g.dtype());
  check_index_values("index_select_backward", idx, x_shape[size_t(d)], d, out);
  const int64_t m = idx.numel(), n = x_shape[size_t(d)];
  const int64_t outer = prod(x_shape, 0, d), inner = prod(x_shape, d + 1, rank);
  if (out.numel() == 0 || m == 0) return out;
  const Tensor gc = g.contiguous();
  constexpr int64_t kBlock = 256;
  const int64_t blocks = (inner + kBlock - 1) / kBlock;
  const int64_t* pi = idx.data<int64_t>();
  LOUPE_DISPATCH(g.dtype(), T, {
    const T* pg = gc.data<T>();
    T* po = out.data<T>();
    parallel_for(outer * blocks, grain_for(m * std::min(inner, kBlock)), [&](int64_t b, int64_t e) {
      for (int64_t t = b; t < e; ++t) {
        const int64_t o = t / blocks, j0 = (t % blocks) * kBlock, j1 = std::min(inner, j0 + kBlock);
        for (int64_t k = 0; k < m; ++k) {
          T* dst = po + (o * n + pi[k]) * inner;
          const T* srcp = pg + (o * m + k) * inner;
          for (int64_t j = j0; j < j1; ++j) dst[j] += srcp[j];
        }
      }
    });
  });
  return out;
}

// ---------------------------------------------------------------- embedding
Tensor embedding(const Tensor& weight, const Tensor& ids) {
  LOUPE_CHECK(weight.defined() && weight.dim() == 2, "embedding: weight must be [V, D], got ", weight.str());
  LOUPE_CHECK(ids.defined() && ids.dtype() == DType::I64, "embedding: ids must be an i64 tensor, got ", ids.str());
  const int64_t V = weight.shape()[0], D = weight.shape()[1];
  const Tensor idc = ids.contiguous();
  const int64_t* pi = idc.data<int64_t>();
  const int64_t N = idc.numel();
  for (int64_t p = 0; p < N; ++p)
    LOUPE_CHECK(pi[p] >= 0 && pi[p] < V, "embedding: id ", pi[p], " at position ", p, " is out of range for a vocabulary of ",
                V, " rows (weight ", weight.str(), ")");
  Shape out_shape = ids.shape();
  out_shape.push_back(D);
  Tensor out = Tensor::empty(out_shape, weight.dtype());
  if (out.numel() == 0) return out;
  const Tensor w = weight.contiguous();
  const size_t es = dtype_size(weight.dtype());
  const char* pw = static_cast<const char*>(w.raw_data());
  char* po = static_cast<char*>(out.raw_data());
  parallel_for(N, grain_for(D), [&](int64_t b, int64_t e) {
    for (int64_t p = b; p < e; ++p) std::memcpy(po + size_t(p * D) * es, pw + size_t(pi[p] * D) * es, size_t(D) * es);
  });
  return out;
}

// gW[v] = sum over positions p with ids[p] == v, in increasing p, of g[p].
// A stable counting sort groups the positions by id; rows are then independent tasks.
Tensor embedding_backward(const Tensor& g, const Tensor& ids, int64_t vocab) {
  LOUPE_CHECK(g.defined() && is_floating(g.dtype()), "embedding_backward: expected a float gradient, got ", g.str());
  LOUPE_CHECK(ids.defined() && ids.dtype() == DType::I64, "embedding_backward: ids must be i64, got ", ids.str());
  LOUPE_CHECK(g.dim() == ids.dim() + 1, "embedding_backward: gradient ", g.str(), " does not fit ids ", ids.str());
  for (int64_t j = 0; j < ids.dim(); ++j)
    LOUPE_CHECK(g.shape()[size_t(j)] == ids.shape()[size_t(j)], "embedding_backward: gradient ", g.str(),
                " does not fit ids ", ids.str());
  const int64_t D = g.shape().back(), N = ids.numel();
  const Tensor idc = ids.contiguous();
  const int64_t* pi = idc.data<int64_t>();
  std::vector<int64_t> start(size_t(vocab) + 1, 0);
  std::vector<int64_t> pos(static_cast<size_t>(N));
  for (int64_t p = 0; p < N; ++p) {
    LOUPE_CHECK(pi[p] >= 0 && pi[p] < vocab, "embedding_backward: id ", pi[p], " at position ", p,
                " is out of range for a vocabulary of ", vocab, " rows");
    ++start[size_t(pi[p]) + 1];
  }
  for (int64_t v = 0; v < vocab; ++v) start[size_t(v) + 1] += start[size_t(v)];
  {
    std::vector<int64_t> fill(start.begin(), start.end() - 1);
    for (int64_t p = 0; p < N; ++p) pos[size_t(fill[size_t(pi[p])]++)] = p;
  }
  Tensor out = Tensor::zeros({vocab, D}, g.dtype());
  if (out.numel() == 0 || N == 0) return out;
  const Tensor gc = g.contiguous();
  LOUPE_DISPATCH(g.dtype(), T, {
    const T* pg = gc.data<T>();
    T* po = out.data<T>();
    const int64_t avg = std::max<int64_t>(1, N / std::max<int64_t>(vocab, 1));
    parallel_for(vocab, grain_for(avg * D), [&](int64_t b, int64_t e) {
      for (int64_t v = b; v < e; ++v) {
        T* dst = po + v * D;
        for (int64_t s = start[size_t(v)]; s < start[size_t(v) + 1]; ++s) {
          const T* src = pg + pos[size_t(s)] * D;
          for (int64_t j = 0; j < D; ++j) dst[j] += src[j];
        }
      }
    });
  });
  return out;
}

}  // namespace loupe
