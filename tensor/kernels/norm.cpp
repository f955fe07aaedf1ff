// LayerNorm / RMSNorm kernels. One read of each row computes its statistics
// (sums of x - s and (x - s)² with the shift s = x[0], which keeps the one-pass
// variance free of cancellation when |mean| >> std); a second loop writes y.
#include "tensor/kernels/norm.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "tensor/simd.h"

#include "tensor/kernels/lanes.h"

#include "tensor/parallel.h"

namespace loupe::kernels {
namespace {

constexpr int64_t kRowBlock = 16;  // rows per parallel chunk and per dw/db partial sum

// Σ (x[i] - s) and Σ (x[i] - s)² over one row, in Lanes (the same bits on every ISA); the tail
// is padded with s, so its lanes add 0.
template <typename T>
void shifted_sums(const T* x, int64_t C, T s, T& sum, T& sumsq) {
  using L = Lanes<T>;
  constexpr int64_t W = L::size;
  L vs(T(0)), vq(T(0));
  const L shift(s);
  int64_t i = 0;
  for (; i + W <= C; i += W) {
    const L d = L::load(x + i) - shift;
    vs += d;
    vq = fma(d, d, vq);
  }
  if (i < C) {
    const L d = L::load_partial(x + i, C - i, s) - shift;
    vs += d;
    vq = fma(d, d, vq);
  }
  sum = hsum(vs);
  sumsq = hsum(vq);
}

// y[i] = (x[i] - mu) * r * w[i] (+ b[i]).
template <typename T>
void normalize_row(const T* x, int64_t C, T mu, T r, const T* w, const T* b, T* y) {
  using B = xsimd::batch<T>;
  constexpr int64_t W = B::size;
  const B vmu(mu), vr(r);
  int64_t i = 0;
  for (; i + W <= C; i += W) {
    B t = (B::load_unaligned(x + i) - vmu) * vr * B::load_unaligned(w + i);
    if (b) t += B::load_unaligned(b + i);
    t.store_unaligned(y + i);
  }
  for (; i < C; ++i) y[i] = (x[i] - mu) * r * w[i] + (b ? b[i] : T(0));
}

// Shared backward: dx = r * (g - c1 - xh * c2) where g = dy*w, xh = (x - mu)*r,
// c1 = mean(g) (LayerNorm) or 0 (RMSNorm), c2 = mean(g * xh). Partial dw += dy*xh, db += dy.
template <typename T>
void norm_backward(int64_t rows, int64_t C, const T* x, const T* w, const T* mean, const T* rstd, const T* dy, T* dx,
                   T* dw, T* db, bool center) {
  using B = xsimd::batch<T>;
  constexpr int64_t W = B::size;
  const int64_t nblocks = (rows + kRowBlock - 1) / kRowBlock;
  std::vector<T> pw(dw ? size_t(nblocks * C) : 0, T(0)), pb(db ? size_t(nblocks * C) : 0, T(0));
  parallel_for(rows, kRowBlock, [&](int64_t r0, int64_t r1) {
    T* bw = dw ? pw.data() + (r0 / kRowBlock) * C : nullptr;
    T* bb = db ? pb.data() + (r0 / kRowBlock) * C : nullptr;
    for (int64_t r = r0; r < r1; ++r) {
      const T* xr = x + r * C;
      const T* g = dy + r * C;
      const T mu = center ? mean[r] : T(0), rs = rstd[r];
      const B vmu(mu), vr(rs);
      // c1 = mean(dy*w), c2 = mean(dy*w*xh), in Lanes; the tail (m < W values) padded with 0.
      using L = Lanes<T>;
      constexpr int64_t LW = L::size;
      const L lmu(mu), lr(rs);
      L a1(T(0)), a2(T(0));
      const auto chunk = [&](int64_t i, int64_t m) {
        const auto ld = [&](const T* p) { return m == LW ? L::load(p + i) : L::load_partial(p + i, m, T(0)); };
        const auto st = [&](const L& v, T* p) { m == LW ? v.store(p + i) : v.store_partial(p + i, m); };
        const L gv = ld(g), gw = gv * ld(w), xh = (ld(xr) - lmu) * lr;
        a1 += gw;
        a2 = fma(gw, xh, a2);
        if (bw) st(fma(gv, xh, ld(bw)), bw);
        if (bb) st(ld(bb) + gv, bb);
      };
      int64_t i = 0;
      for (; i + LW <= C; i += LW) chunk(i, LW);
      if (i < C) chunk(i, C - i);
      const T s1 = hsum(a1), s2 = hsum(a2);
      if (!dx) continue;
      const T c1 = center ? s1 / T(C) : T(0), c2 = s2 / T(C);
      const B vc1(c1), vc2(c2);
      T* dxr = dx + r * C;
      i = 0;
      for (; i + W <= C; i += W) {
        const B gw = B::load_unaligned(g + i) * B::load_unaligned(w + i);
        const B xh = (B::load_unaligned(xr + i) - vmu) * vr;
        (vr * (gw - vc1 - xh * vc2)).store_unaligned(dxr + i);
      }
      for (; i < C; ++i) dxr[i] = rs * (g[i] * w[i] - c1 - (xr[i] - mu) * rs * c2);
    }
  });
  // Sum the block partials in block order (fixed for any thread count); parallel over columns.
  auto finish = [&](std::vector<T>& part, T* out) {
    parallel_for(C, 256, [&](int64_t c0, int64_t c1) {
      for (int64_t c = c0; c < c1; ++c) {
        T s = 0;
        for (int64_t k = 0; k < nblocks; ++k) s += part[size_t(k * C + c)];
        out[c] = s;
      }
    });
  };
  if (dw) finish(pw, dw);
  if (db) finish(pb, db);
}

}  // namespace

template <typename T>
void layernorm_forward(int64_t rows, int64_t C, const T* x, const T* w, const T* b, double eps, T* y, T* mean,
                       T* rstd) {
  parallel_for(rows, kRowBlock, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const T* xr = x + r * C;
      const T s = xr[0];
      T sum, sumsq;
      shifted_sums(xr, C, s, sum, sumsq);
      const T dmean = sum / T(C);                                 // mean - s
      const T var = std::max(sumsq / T(C) - dmean * dmean, T(0));  // E[(x-s)²] - (E[x-s])²
      const T mu = s + dmean, rs = T(1) / std::sqrt(var + T(eps));
      mean[r] = mu;
      rstd[r] = rs;
      normalize_row(xr, C, mu, rs, w, b, y + r * C);
    }
  });
}

template <typename T>
void layernorm_backward(int64_t rows, int64_t C, const T* x, const T* w, const T* mean, const T* rstd, const T* dy,
                        T* dx, T* dw, T* db) {
  norm_backward(rows, C, x, w, mean, rstd, dy, dx, dw, db, /*center=*/true);
}

template <typename T>
void rmsnorm_forward(int64_t rows, int64_t C, const T* x, const T* w, double eps, T* y, T* rstd) {
  parallel_for(rows, kRowBlock, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const T* xr = x + r * C;
      T sum, sumsq;
      shifted_sums(xr, C, T(0), sum, sumsq);
      const T rs = T(1) / std::sqrt(sumsq / T(C) + T(eps));
      rstd[r] = rs;
      normalize_row(xr, C, T(0), rs, w, static_cast<const T*>(nullptr), y + r * C);
    }
  });
}

template <typename T>
void rmsnorm_backward(int64_t rows, int64_t C, const T* x, const T* w, const T* rstd, const T* dy, T* dx, T* dw) {
  norm_backward(rows, C, x, w, static_cast<const T*>(nullptr), rstd, dy, dx, dw, static_cast<T*>(nullptr),
                /*center=*/false);
}

#define LOUPE_INSTANTIATE_NORM(T)                                                                                  \
  template void layernorm_forward<T>(int64_t, int64_t, const T*, const T*, const T*, double, T*, T*, T*);          \
  template void layernorm_backward<T>(int64_t, int64_t, const T*, const T*, const T*, const T*, const T*, T*, T*, \
                                      T*);                                                                         \
  template void rmsnorm_forward<T>(int64_t, int64_t, const T*, const T*, double, T*, T*);                          \
  template void rmsnorm_backward<T>(int64_t, int64_t, const T*, const T*, const T*, const T*, T*, T*);
LOUPE_INSTANTIATE_NORM(float)
LOUPE_INSTANTIATE_NORM(double)

}  // namespace loupe::kernels
