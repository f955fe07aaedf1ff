// matmul on Tensors: NumPy semantics (2-D, batched with broadcast batch dims, 1-D operands
// promoted and squeezed back), lowered onto the strided GEMM without copying operands: the
// two matrix dims are read through their own strides (so a transposed view is free), and
// the batch dims through one batch stride each. Only an operand whose broadcast batch dims
// cannot be walked with a single stride is copied.
#include "tensor/kernels/matmul.h"

#include <algorithm>

#include "tensor/kernels/gemm.h"
#include "tensor/ops.h"
#include "tensor/parallel.h"

namespace loupe {
namespace kernels {
namespace {

Shape batch_of(const Tensor& t) { return Shape(t.shape().begin(), t.shape().end() - 2); }

// Strides of t's batch dims when broadcast to `batch` (0 on broadcast dims).
Shape batch_strides(const Tensor& t, const Shape& batch) {
  Shape st(batch.size(), 0);
  const size_t tb = size_t(t.dim()) - 2, off = batch.size() - tb;
  for (size_t i = 0; i < tb; ++i) st[off + i] = t.shape()[i] == 1 ? 0 : t.strides()[i];
  return st;
}

// If walking `shape` in row-major order visits offsets flat_index * s for one stride s,
// stores s and returns true (all-zero strides give s = 0: a broadcast operand).
bool single_stride(const Shape& shape, const Shape& strides, int64_t& s) {
  s = 0;
  bool found = false;
  int64_t running = 1;
  for (int64_t d = int64_t(shape.size()) - 1; d >= 0; --d) {
    if (shape[d] == 1) continue;
    if (!found) {
      s = strides[d];
      found = true;
    } else if (strides[d] != s * running) {
      return false;
    }
    running *= shape[d];
  }
  return true;
}

// Element offset of row-major flat index `flat` over `shape` with `strides`.
int64_t offset_of(int64_t flat, const Shape& shape, const Shape& strides) {
  int64_t off = 0;
  for (int64_t d = int64_t(shape.size()) - 1; d >= 0; --d) {
    off += flat % shape[d] * strides[d];
    flat /= shape[d];
  }
  return off;
}

// The batch dims of one product, split into those kept in the output and those summed away.
struct BatchPlan {
  Shape kept, kept_x, kept_y;  // shape and operand strides of the output's batch dims
  Shape sum, sum_x, sum_y;     // shape and operand strides of the summed batch dims
};

template <typename T>
void run(const Tensor& x, const Tensor& y, const BatchPlan& bp, Tensor& out) {
  const int64_t m = x.size(-2), k = x.size(-1), n = y.size(-1);
  const MatRef<T> xr{x.data<T>(), x.stride(-2), x.stride(-1)}, yr{y.data<T>(), y.stride(-2), y.stride(-1)};
  T* c = out.data<T>();
  const int64_t nk = shape_numel(bp.kept), ns = shape_numel(bp.sum);
  int64_t sx = 0, sy = 0;

  if (ns == 1) {  // ---- plain (batched) product
    const bool cx = single_stride(bp.kept, bp.kept_x, sx), cy = single_stride(bp.kept, bp.kept_y, sy);
    if (cx && cy && sy == 0 && (nk == 1 || sx == m * xr.rs)) {
      // B shared by every batch and A's rows continue across batches (e.g. x [B, T, C] · W [C, N]):
      // one GEMM with M = batch * m.
      gemm<T>(nk * m, n, k, T(1), xr, yr, T(0), c, n, 1);
    } else {
      gemm_batched<T>(nk, m, n, k, T(1), xr, sx, yr, sy, T(0), c, n, 1, m * n);
    }
    return;
  }

  // ---- summed batch dims (the gradient of a broadcast operand)
  const bool fold = single_stride(bp.sum, bp.sum_x, sx) && single_stride(bp.sum, bp.sum_y, sy) &&
                    sx == k * xr.cs && sy == k * yr.rs;
  for (int64_t q = 0; q < nk; ++q) {
    const T* xq = xr.p + offset_of(q, bp.kept, bp.kept_x);
    const T* yq = yr.p + offset_of(q, bp.kept, bp.kept_y);
    T* cq = c + q * m * n;
    if (fold) {
      // The summed batches continue x's columns and y's rows (e.g. dW = Xᵀ dY over [B, T]):
      // one GEMM with K = batches * k.
      gemm<T>(m, n, ns * k, T(1), {xq, xr.rs, xr.cs}, {yq, yr.rs, yr.cs}, T(0), cq, n, 1);
    } else {  // accumulate the batches in a fixed (row-major) order
      for (int64_t s = 0; s < ns; ++s)
        gemm<T>(m, n, k, T(1), {xq + offset_of(s, bp.sum, bp.sum_x), xr.rs, xr.cs},
                {yq + offset_of(s, bp.sum, bp.sum_y), yr.rs, yr.cs}, s == 0 ? T(0) : T(1), cq, n, 1);
    }
  }
}

}  // namespace

Tensor matmul_sum_to(const Tensor& x_in, const Tensor& y_in, const Shape& out_shape, const char* op) {
  LOUPE_CHECK(x_in.defined() && y_in.defined(), op, ": undefined operand");
  LOUPE_CHECK(x_in.dim() >= 2 && y_in.dim() >= 2, op, ": operands must be at least 2-D, got ",
              shape_str(x_in.shape()), " and ", shape_str(y_in.shape()));
  LOUPE_CHECK(x_in.dtype() == y_in.dtype() && is_floating(x_in.dtype()), op, ": dtypes ",
              dtype_name(x_in.dtype()), " and ", dtype_name(y_in.dtype()), " (need the same float dtype) for shapes ",
              shape_str(x_in.shape()), " and ", shape_str(y_in.shape()));
  const int64_t m = x_in.size(-2), k = x_in.size(-1), n = y_in.size(-1);
  LOUPE_CHECK(y_in.size(-2) == k, op, ": shapes ", shape_str(x_in.shape()), " and ", shape_str(y_in.shape()),
              " are not aligned (", k, " != ", y_in.size(-2), ")");
  Shape full = broadcast_shapes(batch_of(x_in), batch_of(y_in), op);
  LOUPE_CHECK(out_shape.size() >= 2 && out_shape.size() - 2 <= full.size() && out_shape[out_shape.size() - 2] == m &&
                  out_shape.back() == n,
              op, ": cannot sum the product of ", shape_str(x_in.shape()), " and ", shape_str(y_in.shape()), " to ",
              shape_str(out_shape));

  BatchPlan bp;
  Tensor x = x_in, y = y_in;
  Shape xs = batch_strides(x, full), ys = batch_strides(y, full);
  const size_t ob = out_shape.size() - 2, lead = full.size() - ob;
  for (size_t d = 0; d < full.size(); ++d) {
    const int64_t o = d < lead ? 1 : out_shape[d - lead];
    LOUPE_CHECK(o == full[d] || o == 1, op, ": cannot sum the product of ", shape_str(x_in.shape()), " and ",
                shape_str(y_in.shape()), " to ", shape_str(out_shape));
    if (o == full[d]) {
      bp.kept.push_back(full[d]), bp.kept_x.push_back(xs[d]), bp.kept_y.push_back(ys[d]);
    } else {
      bp.sum.push_back(full[d]), bp.sum_x.push_back(xs[d]), bp.sum_y.push_back(ys[d]);
    }
  }
  Tensor out = Tensor::empty(out_shape, x.dtype());
  if (out.numel() == 0) return out;
  if (k == 0 || shape_numel(full) == 0) {  // an empty sum
    out.fill_(0.0);
    return out;
  }
  // A plain batched product whose operand batch dims cannot be walked with one stride
  // (e.g. [2, 1, m, k] · [1, 3, k, n]): materialise that operand's broadcast once.
  int64_t s;
  if (bp.sum.empty()) {
    for (Tensor* t : {&x, &y}) {
      Shape& st = t == &x ? bp.kept_x : bp.kept_y;
      if (single_stride(bp.kept, st, s)) continue;
      Shape shape = full;
      shape.push_back(t->size(-2));
      shape.push_back(t->size(-1));
      Tensor copy = Tensor::empty(shape, t->dtype());
      copy.copy_(*t);
      *t = copy;
      st = batch_strides(copy, full);
    }
  }
  LOUPE_DISPATCH(x.dtype(), T, run<T>(x, y, bp, out));
  return out;
}

}  // namespace kernels

// out = a · b with NumPy's rules: a 1-D a is a row [1, k] and b 1-D a column [k, 1], and the
// promoted dim is dropped from the result; batch dims broadcast.
Tensor matmul(const Tensor& a, const Tensor& b) {
  LOUPE_CHECK(a.defined() && b.defined(), "matmul: undefined operand");
  LOUPE_CHECK(a.dim() >= 1 && b.dim() >= 1, "matmul: shapes ", shape_str(a.shape()), " and ", shape_str(b.shape()),
              ": 0-d operands are not allowed");
  const Tensor a2 = a.dim() == 1 ? a.unsqueeze(0) : a;
  const Tensor b2 = b.dim() == 1 ? b.unsqueeze(1) : b;
  LOUPE_CHECK(a2.size(-1) == b2.size(-2), "matmul: shapes ", shape_str(a.shape()), " and ", shape_str(b.shape()),
              " are not aligned (", a2.size(-1), " != ", b2.size(-2), ")");
  const Shape ba(a2.shape().begin(), a2.shape().end() - 2), bb(b2.shape().begin(), b2.shape().end() - 2);
  const size_t nb = std::max(ba.size(), bb.size());
  Shape batch(nb);
  for (size_t i = 0; i < nb; ++i) {  // broadcast the batch dims, naming both full shapes on failure
    const int64_t da = i < nb - ba.size() ? 1 : ba[i - (nb - ba.size())];
    const int64_t db = i < nb - bb.size() ? 1 : bb[i - (nb - bb.size())];
    LOUPE_CHECK(da == db || da == 1 || db == 1, "matmul: shapes ", shape_str(a.shape()), " and ",
                shape_str(b.shape()), ": batch dims do not broadcast (", da, " vs ", db, ")");
    batch[i] = da == 1 ? db : da;
  }
  Shape out_shape = batch, final_shape = batch;
  out_shape.push_back(a2.size(-2));
  out_shape.push_back(b2.size(-1));
  if (a.dim() > 1) final_shape.push_back(a2.size(-2));
  if (b.dim() > 1) final_shape.push_back(b2.size(-1));
  Tensor out = kernels::matmul_sum_to(a2, b2, out_shape, "matmul");
  return out.view(final_shape);
}

}  // namespace loupe
