// Reductions: sum, mean, amax, amin, var, argmax, sum_to_shape. See reduce.h for the
// fixed summation order that makes results independent of the thread count.
//
// Two loop shapes cover every layout:
//  * inner:   each output reduces runs along the reduced dims (SIMD when the innermost
//             reduced dim is unit-stride) -- e.g. sum over C of [B,T,C];
//  * columns: the innermost kept dim is unit-stride and reduced dims are outer -- e.g.
//             sum over B,T of [B,T,C] (bias gradients): each work item owns a block of
//             output columns and adds whole rows into SIMD accumulators.
#include "tensor/kernels/reduce.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "tensor/simd.h"

#include "tensor/kernels/lanes.h"
#include "tensor/ops.h"
#include "tensor/parallel.h"

namespace loupe {
namespace kernels {

std::vector<bool> reduce_mask(const char* op, int64_t ndim, const std::vector<int64_t>& dims) {
  std::vector<bool> mask(size_t(ndim), dims.empty());
  for (int64_t d : dims) {
    const int64_t w = d < 0 ? d + ndim : d;
    LOUPE_CHECK(w >= 0 && w < ndim, op, ": dim ", d, " out of range for a tensor with ", ndim, " dims");
    LOUPE_CHECK(!mask[size_t(w)], op, ": dim ", d, " given twice");
    mask[size_t(w)] = true;
  }
  return mask;
}

Shape reduced_shape(const Shape& shape, const std::vector<bool>& mask, bool keepdim) {
  Shape out;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (!mask[d])
      out.push_back(shape[d]);
    else if (keepdim)
      out.push_back(1);
  }
  return out;
}

int64_t reduced_count(const Shape& shape, const std::vector<bool>& mask) {
  int64_t n = 1;
  for (size_t d = 0; d < shape.size(); ++d)
    if (mask[d]) n *= shape[d];
  return n;
}

namespace {

// x's dims split into kept dims (output order) and reduced dims, each group with
// size-1 dims dropped and contiguous neighbours merged.
struct Plan {
  Shape kshape, kstride, rshape, rstride;
  int64_t nout = 1, nred = 1;
};

void merge_push(Shape& shape, Shape& stride, int64_t n, int64_t s) {
  if (!shape.empty() && stride.back() == s * n && n != 0 && shape.back() != 0) {
    shape.back() *= n;
    stride.back() = s;
  } else {
    shape.push_back(n);
    stride.push_back(s);
  }
}

Plan make_plan(const Tensor& x, const std::vector<bool>& mask) {
  Plan P;
  std::vector<std::pair<int64_t, int64_t>> red;  // (size, stride)
  for (size_t d = 0; d < size_t(x.dim()); ++d) {
    const int64_t n = x.shape()[d], s = x.strides()[d];
    if (n == 1) continue;
    if (mask[d])
      red.push_back({n, s});
    else
      merge_push(P.kshape, P.kstride, n, s);
  }
  // Reduced dims in order of decreasing stride, so the unit-stride one is innermost.
  std::stable_sort(red.begin(), red.end(),
                   [](auto& a, auto& b) { return std::llabs(a.second) > std::llabs(b.second); });
  for (auto [n, s] : red) merge_push(P.rshape, P.rstride, n, s);
  if (P.kshape.empty()) {
    P.kshape = {1};
    P.kstride = {0};
  }
  if (P.rshape.empty()) {
    P.rshape = {1};
    P.rstride = {0};
  }
  P.nout = shape_numel(P.kshape);
  P.nred = shape_numel(P.rshape);
  return P;
}

// A row-major index over (shape, stride) that tracks the element offset.
struct Walker {
  const Shape& shape;
  const Shape& stride;
  std::vector<int64_t> idx;
  int64_t off = 0;
  Walker(const Shape& sh, const Shape& st, int64_t start) : shape(sh), stride(st), idx(sh.size()) {
    for (int64_t d = int64_t(sh.size()) - 1; d >= 0; --d) {
      idx[size_t(d)] = start % sh[size_t(d)];
      start /= sh[size_t(d)];
      off += idx[size_t(d)] * st[size_t(d)];
    }
  }
  int64_t left_in_row() const { return shape.back() - idx.back(); }
  // Moves n steps along the innermost dim (at most to the end of the row), carrying outward.
  void step(int64_t n) {
    idx.back() += n;
    off += n * stride.back();
    if (idx.back() < shape.back()) return;
    off -= shape.back() * stride.back();
    idx.back() = 0;
    for (int64_t d = int64_t(shape.size()) - 2; d >= 0; --d) {
      off += stride[size_t(d)];
      if (++idx[size_t(d)] < shape[size_t(d)]) return;
      off -= shape[size_t(d)] * stride[size_t(d)];
      idx[size_t(d)] = 0;
    }
  }
};

// Reduction policies: how lanes combine (vec, for xsimd batches, Lanes and scalars), how a
// Lanes vector collapses (hred, lanes.h's fixed order), how block totals combine in f64
// (combine), and the identity (init, also the pad of a row tail).
struct SumOp {
  static constexpr double init = 0;
  template <class V>
  static V vec(V a, V b) { return a + b; }
  template <class T>
  static T hred(const Lanes<T>& b) { return hsum(b); }
  static double combine(double a, double b) { return a + b; }
};
struct MaxOp {
  static constexpr double init = -std::numeric_limits<double>::infinity();
  template <class T>
  static xsimd::batch<T> vec(xsimd::batch<T> a, xsimd::batch<T> b) { return xsimd::max(a, b); }
  template <class T>
  static Lanes<T> vec(const Lanes<T>& a, const Lanes<T>& b) { return max(a, b); }
  template <class T>
  static T vec(T a, T b) { return std::max(a, b); }
  template <class T>
  static T hred(const Lanes<T>& b) { return hmax(b); }
  static double combine(double a, double b) { return std::max(a, b); }
};
struct MinOp {
  static constexpr double init = std::numeric_limits<double>::infinity();
  template <class T>
  static xsimd::batch<T> vec(xsimd::batch<T> a, xsimd::batch<T> b) { return xsimd::min(a, b); }
  template <class T>
  static Lanes<T> vec(const Lanes<T>& a, const Lanes<T>& b) { return min(a, b); }
  template <class T>
  static T vec(T a, T b) { return std::min(a, b); }
  template <class T>
  static T hred(const Lanes<T>& b) { return hmin(b); }
  static double combine(double a, double b) { return std::min(a, b); }
};

// Folds n elements p[i*s] into acc: blocks of kReduceBlock reduced in T, each block into f64.
// A contiguous block runs in Lanes (its tail padded with the identity): the same bits on every
// ISA; a strided one element by element.
template <class Op, class T>
double reduce_run(const T* p, int64_t n, int64_t s, double acc) {
  using L = Lanes<T>;
  constexpr int64_t W = L::size;
  for (int64_t b0 = 0; b0 < n; b0 += kReduceBlock) {
    const int64_t e = std::min(n, b0 + kReduceBlock);
    int64_t i = b0;
    if (s == 1) {
      L v(static_cast<T>(Op::init));
      for (; i + W <= e; i += W) v = Op::vec(v, L::load(p + i));
      if (i < e) v = Op::vec(v, L::load_partial(p + i, e - i, static_cast<T>(Op::init)));
      acc = Op::combine(acc, double(Op::hred(v)));
      continue;
    }
    T blk = p[i * s];
    for (++i; i < e; ++i) blk = Op::vec(blk, p[i * s]);
    acc = Op::combine(acc, double(blk));
  }
  return acc;
}

// out[o] = fold over the reduced elements of output o, divided by `divisor`.
template <class Op, class T>
void reduce_inner(const T* x, const Plan& P, T* out, double divisor) {
  const int64_t nsb = (P.nred + kReduceSuper - 1) / kReduceSuper;
  const int64_t seg = std::min(P.nred, kReduceSuper);
  std::vector<double> part(size_t(P.nout * nsb));
  parallel_for(P.nout * nsb, std::max<int64_t>(1, 32768 / seg), [&](int64_t b, int64_t e) {
    for (int64_t w = b; w < e; ++w) {
      const int64_t o = w / nsb, sb = w % nsb;
      const Walker k(P.kshape, P.kstride, o);
      const int64_t r0 = sb * kReduceSuper, r1 = std::min(P.nred, r0 + kReduceSuper);
      Walker r(P.rshape, P.rstride, r0);
      double acc = Op::init;
      for (int64_t pos = r0; pos < r1;) {
        const int64_t run = std::min(r.left_in_row(), r1 - pos);
        acc = reduce_run<Op, T>(x + k.off + r.off, run, P.rstride.back(), acc);
        pos += run;
        if (pos < r1) r.step(run);
      }
      part[size_t(w)] = acc;
    }
  });
  for (int64_t o = 0; o < P.nout; ++o) {
    double acc = part[size_t(o * nsb)];
    for (int64_t sb = 1; sb < nsb; ++sb) acc = Op::combine(acc, part[size_t(o * nsb + sb)]);
    out[o] = T(acc / divisor);
  }
}

// Column form: the innermost kept dim (C) is unit-stride; each work item owns up to CB
// columns of one outer kept position and folds all reduced rows into SIMD lanes,
// kColumnBlock rows at a time in T, each block into f64. (A lane here adds one row per
// step, so the block is shorter than kReduceBlock, where each lane sees 1/W of a block.)
constexpr int64_t kColumnBlock = 32;
template <class Op, class T>
void reduce_columns(const T* x, const Plan& P, T* out, double divisor) {
  using B = xsimd::batch<T>;
  constexpr int64_t W = int64_t(B::size), NB = 4, CB = NB * W;
  const int64_t C = P.kshape.back(), nko = P.nout / C, ncb = (C + CB - 1) / CB;
  const Shape oshape(P.kshape.begin(), P.kshape.end() - 1), ostride(P.kstride.begin(), P.kstride.end() - 1);
  const Shape oshape1 = oshape.empty() ? Shape{1} : oshape, ostride1 = ostride.empty() ? Shape{0} : ostride;
  parallel_for(nko * ncb, std::max<int64_t>(1, 32768 / (P.nred * CB)), [&](int64_t b, int64_t e) {
    for (int64_t w = b; w < e; ++w) {
      const int64_t ko = w / ncb, c0 = (w % ncb) * CB, nc = std::min(CB, C - c0), nfull = nc / W;
      const T* base = x + Walker(oshape1, ostride1, ko).off + c0;
      double dacc[CB];
      std::fill(dacc, dacc + CB, Op::init);
      Walker r(P.rshape, P.rstride, 0);
      for (int64_t r0 = 0; r0 < P.nred; r0 += kColumnBlock) {
        const int64_t r1 = std::min(P.nred, r0 + kColumnBlock);
        B v[NB];
        alignas(64) T t[CB];
        for (int64_t row = r0; row < r1; ++row) {
          const T* p = base + r.off;
          if (row == r0) {
            for (int64_t j = 0; j < nfull; ++j) v[j] = B::load_unaligned(p + j * W);
            for (int64_t c = nfull * W; c < nc; ++c) t[c] = p[c];
          } else {
            for (int64_t j = 0; j < nfull; ++j) v[j] = Op::vec(v[j], B::load_unaligned(p + j * W));
            for (int64_t c = nfull * W; c < nc; ++c) t[c] = Op::vec(t[c], p[c]);
          }
          if (row + 1 < P.nred) r.step(1);
        }
        for (int64_t j = 0; j < nfull; ++j) v[j].store_aligned(t + j * W);
        for (int64_t c = 0; c < nc; ++c) dacc[c] = Op::combine(dacc[c], double(t[c]));
      }
      for (int64_t c = 0; c < nc; ++c) out[ko * C + c0 + c] = T(dacc[c] / divisor);
    }
  });
}

template <class Op>
Tensor reduce(const char* op, const Tensor& x, const std::vector<int64_t>& dims, bool keepdim, bool average) {
  LOUPE_CHECK(x.defined() && is_floating(x.dtype()), op, ": needs an f32 or f64 tensor, got ", x.str());
  const auto mask = reduce_mask(op, x.dim(), dims);
  Tensor out = Tensor::empty(reduced_shape(x.shape(), mask, keepdim), x.dtype());
  const Plan P = make_plan(x, mask);
  if (P.nout == 0) return out;
  if (P.nred == 0) {
    LOUPE_CHECK(Op::init == 0, op, ": cannot reduce over zero elements of ", x.str());
    out.fill_(average ? NAN : 0.0);
    return out;
  }
  const double divisor = average ? double(P.nred) : 1.0;
  const bool columns = P.kstride.back() == 1 && P.kshape.back() > 1 && P.rstride.back() != 1;
  LOUPE_DISPATCH(x.dtype(), T, {
    if (columns)
      reduce_columns<Op, T>(x.data<T>(), P, out.data<T>(), divisor);
    else
      reduce_inner<Op, T>(x.data<T>(), P, out.data<T>(), divisor);
  });
  return out;
}

}  // namespace
}  // namespace kernels

Tensor sum(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) {
  return kernels::reduce<kernels::SumOp>("sum", x, dims, keepdim, false);
}
Tensor mean(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) {
  return kernels::reduce<kernels::SumOp>("mean", x, dims, keepdim, true);
}
Tensor amax(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) {
  return kernels::reduce<kernels::MaxOp>("amax", x, dims, keepdim, false);
}
Tensor amin(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) {
  return kernels::reduce<kernels::MinOp>("amin", x, dims, keepdim, false);
}

// Two passes for accuracy: var = sum((x - mean)^2) / (n - correction).
Tensor var(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim, int64_t correction) {
  LOUPE_CHECK(x.defined() && is_floating(x.dtype()), "var: needs an f32 or f64 tensor, got ", x.str());
  const int64_t n = kernels::reduced_count(x.shape(), kernels::reduce_mask("var", x.dim(), dims));
  LOUPE_CHECK(correction >= 0, "var: negative correction ", correction);
  const Tensor d = sub(x, mean(x, dims, true));
  Tensor ss = sum(mul(d, d), dims, keepdim);
  mul_(ss, 1.0 / double(n - correction));  // n == correction gives inf/nan, as in PyTorch
  return ss;
}

// First index of the maximum along dim (i64). Parallel over outputs; each scan is serial.
Tensor argmax(const Tensor& x, int64_t dim, bool keepdim) {
  LOUPE_CHECK(x.defined() && is_floating(x.dtype()), "argmax: needs an f32 or f64 tensor, got ", x.str());
  LOUPE_CHECK(x.dim() > 0, "argmax: needs at least one dim, got ", x.str());
  const auto mask = kernels::reduce_mask("argmax", x.dim(), {dim});
  const int64_t d = dim < 0 ? dim + x.dim() : dim, n = x.shape()[size_t(d)];
  LOUPE_CHECK(n > 0, "argmax: dim ", dim, " of ", x.str(), " is empty");
  Tensor out = Tensor::empty(kernels::reduced_shape(x.shape(), mask, keepdim), DType::I64);
  // Move dim last: each output scans a strided row.
  std::vector<int64_t> perm;
  for (int64_t i = 0; i < x.dim(); ++i)
    if (i != d) perm.push_back(i);
  perm.push_back(d);
  const Tensor xp = x.permute(perm);
  const Shape oshape(xp.shape().begin(), xp.shape().end() - 1), ostride(xp.strides().begin(), xp.strides().end() - 1);
  const Shape os1 = oshape.empty() ? Shape{1} : oshape, st1 = ostride.empty() ? Shape{0} : ostride;
  const int64_t nout = shape_numel(oshape), s = xp.strides().back();
  int64_t* o = out.data<int64_t>();
  LOUPE_DISPATCH(x.dtype(), T, {
    const T* px = xp.data<T>();
    parallel_for(nout, std::max<int64_t>(1, 32768 / n), [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        const T* p = px + kernels::Walker(os1, st1, i).off;
        int64_t best = 0;
        for (int64_t j = 1; j < n; ++j)
          if (p[j * s] > p[best * s]) best = j;
        o[i] = best;
      }
    });
  });
  return out;
}

// The backward of broadcasting: sums g over the leading dims it has beyond `shape`
// and over the dims where `shape` has size 1.
Tensor sum_to_shape(const Tensor& g, const Shape& shape) {
  if (g.shape() == shape) return g;
  const int64_t lead = g.dim() - int64_t(shape.size());
  LOUPE_CHECK(lead >= 0, "sum_to_shape: cannot sum ", g.str(), " to ", shape_str(shape));
  std::vector<int64_t> dims;
  for (int64_t i = 0; i < g.dim(); ++i) {
    if (i < lead) {
      dims.push_back(i);
      continue;
    }
    const int64_t want = shape[size_t(i - lead)], have = g.shape()[size_t(i)];
    LOUPE_CHECK(want == have || want == 1, "sum_to_shape: cannot sum ", g.str(), " to ", shape_str(shape));
    if (want == 1 && have != 1) dims.push_back(i);
  }
  if (dims.empty()) return g.reshape(shape);
  return sum(g, dims, true).reshape(shape);
}

}  // namespace loupe
