#include "tensor/kernels/attention.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>
#include <vector>

#include "tensor/simd.h"

#include "tensor/kernels/dropout.h"
#include "tensor/kernels/lanes.h"
#include "tensor/kernels/softmax.h"
#include "tensor/kernels/transpose_block.h"
#include "tensor/parallel.h"

namespace loupe::kernels {
namespace {

constexpr int64_t kBr = 32;  // query rows per block
constexpr int64_t kBc = 64;  // keys per tile: a block's scores live in one kBr x kBc buffer

// C[r, n] += Σ_k A(r, k) · B[k, n] for r < R, n < N, k < K: R rows of C at once, so each
// row of B loaded from memory feeds R FMAs. A(r, k) = A[r·ars + k·acs] is broadcast from any
// strides; rows of B and C are contiguous (strides ldb, ldc). The r loops are unrolled so that
// the accumulators live in registers: left to its generic tuning (the x86-64-v3 build), GCC kept
// them in memory, a load and a store around every FMA.
template <typename T, int R>
void mm_rows(int64_t N, int64_t K, const T* A, int64_t ars, int64_t acs, const T* B, int64_t ldb, T* C,
             int64_t ldc) {
  using V = xsimd::batch<T>;
  constexpr int64_t W = V::size;
  int64_t n = 0;
  for (; n + 2 * W <= N; n += 2 * W) {
    V c0[R], c1[R];
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) c0[r] = V::load_unaligned(C + r * ldc + n), c1[r] = V::load_unaligned(C + r * ldc + n + W);
    for (int64_t k = 0; k < K; ++k) {
      const V b0 = V::load_unaligned(B + k * ldb + n), b1 = V::load_unaligned(B + k * ldb + n + W);
#pragma GCC unroll 8
      for (int r = 0; r < R; ++r) {
        const V a(A[r * ars + k * acs]);
        c0[r] = xsimd::fma(a, b0, c0[r]);
        c1[r] = xsimd::fma(a, b1, c1[r]);
      }
    }
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) c0[r].store_unaligned(C + r * ldc + n), c1[r].store_unaligned(C + r * ldc + n + W);
  }
  for (; n + W <= N; n += W) {
    V c[R];
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) c[r] = V::load_unaligned(C + r * ldc + n);
    for (int64_t k = 0; k < K; ++k) {
      const V b = V::load_unaligned(B + k * ldb + n);
#pragma GCC unroll 8
      for (int r = 0; r < R; ++r) c[r] = xsimd::fma(V(A[r * ars + k * acs]), b, c[r]);
    }
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) c[r].store_unaligned(C + r * ldc + n);
  }
  for (; n < N; ++n)
    for (int r = 0; r < R; ++r) {
      T s = C[r * ldc + n];
      for (int64_t k = 0; k < K; ++k) s = std::fma(A[r * ars + k * acs], B[k * ldb + n], s);  // as the lanes
      C[r * ldc + n] = s;
    }
}

// C (M x N) += A (M x K) · B (K x N), in the layouts of mm_rows. The order of every sum is
// fixed by the shapes alone, so results do not depend on the thread count (nor on R: 8 rows at
// a time keep 16 accumulators in flight: on gpt-shakespeare's heads 8-10% faster than 4 with
// AVX-512; with AVX2, once mm_rows was unrolled, 4, 6 and 8 measured within noise).
template <typename T>
void mm(int64_t M, int64_t N, int64_t K, const T* A, int64_t ars, int64_t acs, const T* B, int64_t ldb, T* C,
        int64_t ldc) {
  int64_t r = 0;
  for (; r + 8 <= M; r += 8) mm_rows<T, 8>(N, K, A + r * ars, ars, acs, B, ldb, C + r * ldc, ldc);
  for (; r + 4 <= M; r += 4) mm_rows<T, 4>(N, K, A + r * ars, ars, acs, B, ldb, C + r * ldc, ldc);
  for (; r < M; ++r) mm_rows<T, 1>(N, K, A + r * ars, ars, acs, B, ldb, C + r * ldc, ldc);
}

// dst[c·kBc + j] = src_row(j)[c] for j < nj (rows at stride st), zero for nj <= j < kBc: a key
// or value tile transposed, so that q·k over a tile is a broadcast-FMA over keys. f32 moves
// square blocks through registers (transpose_block.h: 16 x 16 on AVX-512, 8 x 8 on AVX2)
// where the width allows.
template <typename T>
void pack_transposed(const T* src, int64_t st, int64_t nj, int64_t width, T* dst) {
  int64_t c0 = 0;
  constexpr int TB = kTransposeBlock;
  if constexpr (std::is_same_v<T, float> && whole_transpose_blocks(kBc))
    for (; c0 + TB <= width; c0 += TB)
      for (int64_t j0 = 0; j0 < kBc; j0 += TB)  // rows past nj are written as zeros
        transpose_block(src + j0 * st + c0, st, int(std::clamp<int64_t>(nj - j0, 0, TB)), dst + c0 * kBc + j0, kBc, TB);
  for (int64_t c = c0; c < width; ++c) {
    T* drow = dst + c * kBc;
    for (int64_t j = 0; j < nj; ++j) drow[j] = src[j * st + c];
    std::fill(drow + nj, drow + kBc, T(0));
  }
}

// Score columns worth computing for a tile in which at most nv keys are visible: nv rounded
// up to whole vectors (the extra columns are masked afterwards).
template <typename T>
inline int64_t score_cols(int64_t nv) {
  constexpr int64_t W = xsimd::batch<T>::size;
  return std::min(kBc, (nv + W - 1) / W * W);
}

// s[j] = exp(s[j]·scale - shift) for j < n, then s[j] = 0 for n <= j < kBc (masked keys get
// probability 0). Whole vectors only: lanes past n are computed and then overwritten, so
// every probability comes from the same vector exp (no scalar tail).
template <typename T>
void exp_scaled_masked(T* s, T scale, T shift, int64_t n) {
  using V = xsimd::batch<T>;
  constexpr int64_t W = V::size;
  static_assert(kBc % W == 0, "a score row is whole vectors");
  for (int64_t j = 0; j < n; j += W) xsimd::exp(xsimd::fms(V::load_unaligned(s + j), V(scale), V(shift))).store_unaligned(s + j);
  std::fill(s + n, s + kBc, T(0));
}

// Keys of a tile starting at j0 (nj of them) that query position pos may see: j0 + j <= pos.
inline int64_t visible(int64_t pos, int64_t j0, int64_t nj) { return std::clamp<int64_t>(pos - j0 + 1, 0, nj); }

}  // namespace

template <typename T>
void attention_forward(const AttnDims& d, AttnRef<const T> q, AttnRef<const T> k, AttnRef<const T> v, AttnRef<T> o,
                       T* lse) {
  const int64_t group = d.H / d.Hkv, Dv = d.Dv, nblk = (d.Tq + kBr - 1) / kBr;
  const T scale = T(d.scale), keep_scale = T(1.0 / (1.0 - d.dropout_p)), inf = std::numeric_limits<T>::infinity();
  const bool drop = d.dropout_p > 0;
  parallel_for(d.B * d.H * nblk, 1, [&](int64_t w0, int64_t w1) {
    std::vector<T> kt(size_t(d.D * kBc)), s(size_t(kBr * kBc)), acc(size_t(kBr * Dv)), m(kBr), l(kBr);
    DropoutMask mask(d.seed, d.counter, d.dropout_p);
    for (int64_t w = w0; w < w1; ++w) {
      const int64_t b = w / (d.H * nblk), h = (w / nblk) % d.H, i0 = (w % nblk) * kBr, hk = h / group;
      const int64_t rows = std::min(kBr, d.Tq - i0), nkeys = std::min(d.q_offset + i0 + rows, d.Tk);
      std::fill(acc.begin(), acc.end(), T(0));
      std::fill(m.begin(), m.end(), -inf);
      std::fill(l.begin(), l.end(), T(0));
      for (int64_t j0 = 0; j0 < nkeys; j0 += kBc) {
        // Keys of this tile that the block's last row sees; no row of the block sees more.
        const int64_t nj = visible(d.q_offset + i0 + rows - 1, j0, std::min(kBc, nkeys - j0)), ns = score_cols<T>(nj);
        pack_transposed(k.at(b, hk, j0), k.st, nj, d.D, kt.data());
        for (int64_t r = 0; r < rows; ++r) std::fill_n(s.data() + r * kBc, ns, T(0));  // the columns mm adds into
        mm(rows, ns, d.D, q.at(b, h, i0), q.st, int64_t(1), kt.data(), kBc, s.data(), kBc);  // S = Q Kᵀ
        for (int64_t r = 0; r < rows; ++r) {
          T* sr = s.data() + r * kBc;
          const int64_t vis = visible(d.q_offset + i0 + r, j0, nj);
          if (vis == 0) {
            std::fill(sr, sr + kBc, T(0));  // masked keys get probability 0
            continue;
          }
          // Online softmax: the new running max, and the old sum and output rescaled to it.
          const T m_new = std::max(m[r], row_max(sr, vis) * scale);
          const T corr = exp1(m[r] - m_new);  // 0 on the first tile (m = -inf)
          if (corr != T(1)) {
            l[r] *= corr;
            for (int64_t c = 0; c < Dv; ++c) acc[size_t(r * Dv + c)] *= corr;
          }
          exp_scaled_masked(sr, scale, m_new, vis);
          l[r] += row_sum(sr, vis);
          m[r] = m_new;
          if (drop) mask.apply(uint64_t(((b * d.H + h) * d.Tq + i0 + r) * d.Tk + j0), vis, sr, sr, keep_scale);
        }
        mm(rows, Dv, nj, s.data(), kBc, int64_t(1), v.at(b, hk, j0), v.st, acc.data(), Dv);  // O += P V
      }
      for (int64_t r = 0; r < rows; ++r) {
        T* orow = o.at(b, h, i0 + r);
        const T inv_l = T(1) / l[r];
        for (int64_t c = 0; c < Dv; ++c) orow[c] = acc[size_t(r * Dv + c)] * inv_l;
        lse[(b * d.H + h) * d.Tq + i0 + r] = m[r] + log1(l[r]);
      }
    }
  });
}

template <typename T>
void attention_backward(const AttnDims& d, AttnRef<const T> q, AttnRef<const T> k, AttnRef<const T> v,
                        AttnRef<const T> o, AttnRef<const T> dout, const T* lse, AttnRef<T> dq, AttnRef<T> dk,
                        AttnRef<T> dv) {
  const int64_t group = d.H / d.Hkv, Dv = d.Dv;
  const T scale = T(d.scale), keep_scale = T(1.0 / (1.0 - d.dropout_p));
  const bool drop = d.dropout_p > 0;
  parallel_for(d.B * d.Hkv, 1, [&](int64_t w0, int64_t w1) {
    std::vector<T> kt(size_t(d.D * kBc)), vt(size_t(Dv * kBc)), p(size_t(kBr * kBc)), ds(size_t(kBr * kBc));
    std::vector<T> dkt(size_t(kBc * d.D)), dvt(size_t(kBc * Dv)), Di(size_t(group * d.Tq));
    DropoutMask mask(d.seed, d.counter, d.dropout_p);
    for (int64_t w = w0; w < w1; ++w) {
      const int64_t b = w / d.Hkv, hk = w % d.Hkv;
      for (int64_t g = 0; g < group; ++g)
        for (int64_t i = 0; i < d.Tq; ++i) {
          const int64_t h = hk * group + g;
          std::fill_n(dq.at(b, h, i), d.D, T(0));
          Di[size_t(g * d.Tq + i)] = row_dot(dout.at(b, h, i), o.at(b, h, i), Dv);  // Σ_j P_ij dP_ij
        }
      for (int64_t j0 = 0; j0 < d.Tk; j0 += kBc) {
        const int64_t nj = std::min(kBc, d.Tk - j0);
        pack_transposed(k.at(b, hk, j0), k.st, nj, d.D, kt.data());
        pack_transposed(v.at(b, hk, j0), v.st, nj, Dv, vt.data());
        std::fill(dkt.begin(), dkt.end(), T(0));
        std::fill(dvt.begin(), dvt.end(), T(0));
        for (int64_t g = 0; g < group; ++g) {
          const int64_t h = hk * group + g;
          // Rows before j0 - q_offset see no key of this tile.
          for (int64_t i0 = std::max<int64_t>(0, j0 - d.q_offset); i0 < d.Tq; i0 += kBr) {
            const int64_t rows = std::min(kBr, d.Tq - i0);
            // Keys of the tile the block's last row sees (the others get no gradient from it).
            const int64_t nv = visible(d.q_offset + i0 + rows - 1, j0, nj), ns = score_cols<T>(nv);
            for (int64_t r = 0; r < rows; ++r) std::fill_n(p.data() + r * kBc, ns, T(0)), std::fill_n(ds.data() + r * kBc, ns, T(0));
            mm(rows, ns, d.D, q.at(b, h, i0), q.st, int64_t(1), kt.data(), kBc, p.data(), kBc);         // S = Q Kᵀ
            mm(rows, ns, Dv, dout.at(b, h, i0), dout.st, int64_t(1), vt.data(), kBc, ds.data(), kBc);  // dP = dO Vᵀ
            for (int64_t r = 0; r < rows; ++r) {
              T *pr = p.data() + r * kBc, *dsr = ds.data() + r * kBc;
              const int64_t i = i0 + r, vis = visible(d.q_offset + i, j0, nj);
              exp_scaled_masked(pr, scale, lse[(b * d.H + h) * d.Tq + i], vis);  // P recomputed from the log-sum-exp
              const T Dr = Di[size_t(g * d.Tq + i)];
              if (!drop) {
                for (int64_t j = 0; j < vis; ++j) dsr[j] = pr[j] * (dsr[j] - Dr) * scale;  // dL/d(q_i·k_j)
              } else {
                bool keep[kBc];
                mask.keep_run(uint64_t(((b * d.H + h) * d.Tq + i) * d.Tk + j0), vis, keep);
#ifndef __clang__  // GCC's pragma (clang warns on it; its only build here is the fuzz build)
#pragma GCC ivdep  // selects, not branches (the keep pattern is random); element j alone
#endif
                for (int64_t j = 0; j < vis; ++j) {  // dsr[j] is dL/d(dropped P_ij)
                  const T dk = dsr[j] * keep_scale, pk = pr[j] * keep_scale;
                  dsr[j] = pr[j] * ((keep[j] ? dk : T(0)) - Dr) * scale;
                  pr[j] = keep[j] ? pk : T(0);  // the dropped P, for dV
                }
              }
              std::fill(dsr + vis, dsr + kBc, T(0));
            }
            mm(nv, Dv, rows, p.data(), int64_t(1), kBc, dout.at(b, h, i0), dout.st, dvt.data(), Dv);  // dV += Pᵀ dO
            mm(nv, d.D, rows, ds.data(), int64_t(1), kBc, q.at(b, h, i0), q.st, dkt.data(), d.D);     // dK += dSᵀ Q
            mm(rows, d.D, nv, ds.data(), kBc, int64_t(1), k.at(b, hk, j0), k.st, dq.at(b, h, i0), dq.st);  // dQ += dS K
          }
        }
        for (int64_t j = 0; j < nj; ++j) {
          std::copy_n(dkt.data() + j * d.D, d.D, dk.at(b, hk, j0 + j));
          std::copy_n(dvt.data() + j * Dv, Dv, dv.at(b, hk, j0 + j));
        }
      }
    }
  });
}
template void attention_forward<float>(const AttnDims&, AttnRef<const float>, AttnRef<const float>,
                                       AttnRef<const float>, AttnRef<float>, float*);
template void attention_forward<double>(const AttnDims&, AttnRef<const double>, AttnRef<const double>,
                                        AttnRef<const double>, AttnRef<double>, double*);
template void attention_backward<float>(const AttnDims&, AttnRef<const float>, AttnRef<const float>,
                                        AttnRef<const float>, AttnRef<const float>, AttnRef<const float>,
                                        const float*, AttnRef<float>, AttnRef<float>, AttnRef<float>);
template void attention_backward<double>(const AttnDims&, AttnRef<const double>, AttnRef<const double>,
                                         AttnRef<const double>, AttnRef<const double>, AttnRef<const double>,
                                         const double*, AttnRef<double>, AttnRef<double>, AttnRef<double>);

}  // namespace loupe::kernels
