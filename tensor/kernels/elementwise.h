// Elementwise loop driver: applies a function of xsimd batches to N broadcast
// operands, writing a (possibly strided) output.
//
// How a call runs:
//  1. every input is broadcast to the output shape (stride 0 on broadcast dims);
//  2. size-1 dims are dropped and neighbouring dims that are contiguous in every
//     operand are merged (so [B,T,C]+[C] becomes [B*T, C] with strides (C,1)+(0,1),
//     and [B,T,C]*[B,T,1] becomes [B*T, C] with (C,1)*(1,0));
//  3. the flat output index range is cut into fixed chunks of kEwGrain elements
//     (parallel_for, size-only chunking), and each chunk walks rows of the last
//     merged dim, running a SIMD inner loop: unit-stride operands are loaded,
//     stride-0 operands are a broadcast batch, other strides are gathered.
// Every element, also in a row tail, goes through the same batch function, so an
// element's value never depends on where it sits or on the thread count.
//
// Autograd ops use map1/map2/map3 to write their fused backward formulas next to
// the forward (e.g. gelu's derivative in one pass).
#pragma once
#include <algorithm>
#include <array>
#include <cstdint>
#include <initializer_list>
#include <utility>
#include <vector>

#include "tensor/simd.h"

#include "tensor/parallel.h"
#include "tensor/tensor.h"

namespace loupe::kernels {

// Throws when an operand is i64 or the operands' dtypes differ, naming the op and each tensor
// ("add: dtype mismatch: f32[2, 3] vs f64[3]").
void check_float_operands(const char* op, std::initializer_list<const Tensor*> ts);

// Iteration space after dropping size-1 dims and merging dims contiguous in every operand.
struct EwLayout {
  Shape shape;                 // at least one dim
  std::vector<Shape> strides;  // one per operand, operand 0 is the output
};
EwLayout ew_layout(const Shape& shape, const std::vector<Shape>& strides);

constexpr int64_t kEwGrain = 1 << 14;  // elements per parallel chunk

// A batch holding v in every lane.
template <typename B>
inline B splat(double v) {
  return B(typename B::value_type(v));
}

// One row of n elements: o[i*so] = f(p0[i*s0], p1[i*s1], ...), W lanes at a time.
template <typename T, size_t N, typename F>
void ew_row(int64_t n, T* o, int64_t so, const std::array<const T*, N>& p, const std::array<int64_t, N>& s, F& f) {
  using B = xsimd::batch<T>;
  constexpr int64_t W = int64_t(B::size);
  alignas(64) T buf[N][W];
  alignas(64) T obuf[W];
  std::array<B, N> x;
  for (int64_t i = 0; i < n; i += W) {
    const int64_t m = std::min(W, n - i);
    for (size_t k = 0; k < N; ++k) {
      if (s[k] == 0) {
        x[k] = B(p[k][0]);
      } else if (s[k] == 1 && m == W) {
        x[k] = B::load_unaligned(p[k] + i);
      } else {  // strided, or the row tail: gather (tail lanes repeat a real element)
        for (int64_t j = 0; j < W; ++j) buf[k][j] = p[k][(i + (j < m ? j : 0)) * s[k]];
        x[k] = B::load_aligned(buf[k]);
      }
    }
    const B r = [&]<size_t... I>(std::index_sequence<I...>) { return f(x[I]...); }(std::make_index_sequence<N>{});
    if (so == 1 && m == W) {
      r.store_unaligned(o + i);
    } else {
      r.store_aligned(obuf);
      for (int64_t j = 0; j < m; ++j) o[(i + j) * so] = obuf[j];
    }
  }
}

// out[idx] = f(ins[0][idx], ...) for every index of out's shape; inputs broadcast to it.
// out may be strided and may be one of the inputs (in-place ops) as long as they overlap exactly.
template <typename T, size_t N, typename F>
void ew_run(const Tensor& out, const std::array<const Tensor*, N>& ins, F f) {
  const int64_t total = out.numel();
  if (total == 0) return;
  std::vector<Shape> st{out.strides()};
  for (auto* t : ins) st.push_back(broadcast_strides(*t, out.shape()));
  const EwLayout L = ew_layout(out.shape(), st);
  const int64_t nd = int64_t(L.shape.size()), inner = L.shape.back();
  T* obase = out.data<T>();
  std::array<const T*, N> ibase;
  std::array<int64_t, N> istep;
  for (size_t k = 0; k < N; ++k) ibase[k] = ins[k]->template data<T>(), istep[k] = L.strides[k + 1][nd - 1];
  const int64_t ostep = L.strides[0][nd - 1];

  parallel_for(total, kEwGrain, [&](int64_t b, int64_t e) {
    // Unravel b into a multi-index and per-operand offsets.
    std::vector<int64_t> idx(nd);
    std::array<int64_t, N + 1> off{};
    for (int64_t d = nd - 1, rem = b; d >= 0; --d) {
      idx[d] = rem % L.shape[d];
      rem /= L.shape[d];
      for (size_t j = 0; j <= N; ++j) off[j] += idx[d] * L.strides[j][d];
    }
    for (int64_t pos = b; pos < e;) {
      const int64_t run = std::min(inner - idx[nd - 1], e - pos);
      std::array<const T*, N> p;
      for (size_t k = 0; k < N; ++k) p[k] = ibase[k] + off[k + 1];
      ew_row<T, N>(run, obase + off[0], ostep, p, istep, f);
      pos += run;
      idx[nd - 1] += run;
      for (size_t j = 0; j <= N; ++j) off[j] += run * L.strides[j][nd - 1];
      if (idx[nd - 1] < inner) continue;
      // Carry into the outer dims.
      for (size_t j = 0; j <= N; ++j) off[j] -= inner * L.strides[j][nd - 1];
      idx[nd - 1] = 0;
      for (int64_t d = nd - 2; d >= 0; --d) {
        for (size_t j = 0; j <= N; ++j) off[j] += L.strides[j][d];
        if (++idx[d] < L.shape[d]) break;
        for (size_t j = 0; j <= N; ++j) off[j] -= L.shape[d] * L.strides[j][d];
        idx[d] = 0;
      }
    }
  });
}

// Fresh contiguous result of f over x (f takes and returns xsimd batches).
template <typename F>
Tensor map1(const char* op, const Tensor& x, F f) {
  check_float_operands(op, {&x});
  Tensor out = Tensor::empty(x.shape(), x.dtype());
  LOUPE_DISPATCH(x.dtype(), T, { ew_run<T, 1>(out, {&x}, f); });
  return out;
}

// Fresh contiguous result of f(a, b) over the broadcast shape of a and b.
template <typename F>
Tensor map2(const char* op, const Tensor& a, const Tensor& b, F f) {
  check_float_operands(op, {&a, &b});
  Tensor out = Tensor::empty(broadcast_shapes(a.shape(), b.shape(), op), a.dtype());
  LOUPE_DISPATCH(a.dtype(), T, { ew_run<T, 2>(out, {&a, &b}, f); });
  return out;
}

// Fresh contiguous result of f(a, b, c) over the broadcast shape of all three.
template <typename F>
Tensor map3(const char* op, const Tensor& a, const Tensor& b, const Tensor& c, F f) {
  check_float_operands(op, {&a, &b, &c});
  Tensor out = Tensor::empty(broadcast_shapes(broadcast_shapes(a.shape(), b.shape(), op), c.shape(), op), a.dtype());
  LOUPE_DISPATCH(a.dtype(), T, { ew_run<T, 3>(out, {&a, &b, &c}, f); });
  return out;
}

}  // namespace loupe::kernels
