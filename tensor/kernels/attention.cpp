#include "tensor/kernels/attention.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include <xsimd/xsimd.hpp>

#include "tensor/kernels/dropout.h"
#include "tensor/parallel.h"

namespace loupe::kernels {
namespace {

constexpr int64_t kKeyTile = 64;   // keys per tile (scores of one tile live on the stack)
constexpr int64_t kRowBlock = 16;  // query rows per parallel work item in the forward

template <typename T>
T dot(const T* a, const T* b, int64_t n) {
  using B = xsimd::batch<T>;
  constexpr int64_t W = B::size;
  B acc(T(0));
  int64_t i = 0;
  for (; i + W <= n; i += W) acc = xsimd::fma(B::load_unaligned(a + i), B::load_unaligned(b + i), acc);
  T s = xsimd::hadd(acc);
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}

template <typename T>
void axpy(T alpha, const T* x, T* y, int64_t n) {  // y += alpha * x
  using B = xsimd::batch<T>;
  constexpr int64_t W = B::size;
  const B va(alpha);
  int64_t i = 0;
  for (; i + W <= n; i += W) xsimd::fma(va, B::load_unaligned(x + i), B::load_unaligned(y + i)).store_unaligned(y + i);
  for (; i < n; ++i) y[i] += alpha * x[i];
}

template <typename T>
void scale_inplace(T alpha, T* y, int64_t n) {
  using B = xsimd::batch<T>;
  constexpr int64_t W = B::size;
  int64_t i = 0;
  for (; i + W <= n; i += W) (B::load_unaligned(y + i) * B(alpha)).store_unaligned(y + i);
  for (; i < n; ++i) y[i] *= alpha;
}

// p[j] = exp(s[j] - m) for j < n, vectorised.
template <typename T>
void exp_shifted(const T* s, T m, T* p, int64_t n) {
  using B = xsimd::batch<T>;
  constexpr int64_t W = B::size;
  int64_t j = 0;
  for (; j + W <= n; j += W) xsimd::exp(B::load_unaligned(s + j) - B(m)).store_unaligned(p + j);
  for (; j < n; ++j) p[j] = std::exp(s[j] - m);
}

}  // namespace

template <typename T>
void attention_forward(const AttnDims& d, AttnRef<const T> q, AttnRef<const T> k, AttnRef<const T> v, AttnRef<T> o,
                       T* lse) {
  const int64_t group = d.H / d.Hkv, nblk = (d.Tq + kRowBlock - 1) / kRowBlock;
  const T scale = T(d.scale), keep_scale = T(1.0 / (1.0 - d.dropout_p));
  const bool drop = d.dropout_p > 0;
  parallel_for(d.B * d.H * nblk, 1, [&](int64_t w0, int64_t w1) {
    std::vector<T> acc(size_t(d.D));
    T s[kKeyTile], p[kKeyTile];
    for (int64_t w = w0; w < w1; ++w) {
      const int64_t b = w / (d.H * nblk), h = (w / nblk) % d.H, blk = w % nblk, hk = h / group;
      for (int64_t i = blk * kRowBlock; i < std::min(d.Tq, (blk + 1) * kRowBlock); ++i) {
        const T* qi = q.at(b, h, i);
        const int64_t nkeys = std::min(d.q_offset + i + 1, d.Tk);  // causal: keys 0..pos
        DropoutMask mask(d.seed, d.counter, d.dropout_p);
        const uint64_t mask_row = uint64_t(((b * d.H + h) * d.Tq + i) * d.Tk);
        T m = -std::numeric_limits<T>::infinity(), l = 0;
        std::fill(acc.begin(), acc.end(), T(0));
        for (int64_t j0 = 0; j0 < nkeys; j0 += kKeyTile) {
          const int64_t nj = std::min(kKeyTile, nkeys - j0);
          T tile_max = -std::numeric_limits<T>::infinity();
          for (int64_t j = 0; j < nj; ++j) {
            s[j] = dot(qi, k.at(b, hk, j0 + j), d.D) * scale;
            tile_max = std::max(tile_max, s[j]);
          }
          // Online softmax: rescale what we have so far to the new max.
          const T m_new = std::max(m, tile_max);
          const T corr = std::exp(m - m_new);  // 0 on the first tile (m = -inf)
          l *= corr;
          scale_inplace(corr, acc.data(), d.D);
          exp_shifted(s, m_new, p, nj);
          for (int64_t j = 0; j < nj; ++j) {
            l += p[j];
            const T pd = !drop ? p[j] : mask.keep(mask_row + uint64_t(j0 + j)) ? p[j] * keep_scale : T(0);
            if (pd != T(0)) axpy(pd, v.at(b, hk, j0 + j), acc.data(), d.D);
          }
          m = m_new;
        }
        T* oi = o.at(b, h, i);
        const T inv_l = T(1) / l;
        for (int64_t c = 0; c < d.D; ++c) oi[c] = acc[size_t(c)] * inv_l;
        lse[(b * d.H + h) * d.Tq + i] = m + std::log(l);
      }
    }
  });
}

template <typename T>
void attention_backward(const AttnDims& d, AttnRef<const T> q, AttnRef<const T> k, AttnRef<const T> v,
                        AttnRef<const T> o, AttnRef<const T> dout, const T* lse, AttnRef<T> dq, AttnRef<T> dk,
                        AttnRef<T> dv) {
  const int64_t group = d.H / d.Hkv;
  const T scale = T(d.scale), keep_scale = T(1.0 / (1.0 - d.dropout_p));
  const bool drop = d.dropout_p > 0;
  parallel_for(d.B * d.Hkv, 1, [&](int64_t w0, int64_t w1) {
    T s[kKeyTile], p[kKeyTile];
    for (int64_t w = w0; w < w1; ++w) {
      const int64_t b = w / d.Hkv, hk = w % d.Hkv;
      for (int64_t j = 0; j < d.Tk; ++j) {
        std::fill_n(dk.at(b, hk, j), d.D, T(0));
        std::fill_n(dv.at(b, hk, j), d.D, T(0));
      }
      for (int64_t h = hk * group; h < (hk + 1) * group; ++h) {
        for (int64_t i = 0; i < d.Tq; ++i) {
          const T* qi = q.at(b, h, i);
          const T* doi = dout.at(b, h, i);
          T* dqi = dq.at(b, h, i);
          std::fill_n(dqi, d.D, T(0));
          const T Di = dot(doi, o.at(b, h, i), d.D);  // Σ_j P_ij dP_ij
          const T lse_i = lse[(b * d.H + h) * d.Tq + i];
          const int64_t nkeys = std::min(d.q_offset + i + 1, d.Tk);
          DropoutMask mask(d.seed, d.counter, d.dropout_p);
          const uint64_t mask_row = uint64_t(((b * d.H + h) * d.Tq + i) * d.Tk);
          for (int64_t j0 = 0; j0 < nkeys; j0 += kKeyTile) {
            const int64_t nj = std::min(kKeyTile, nkeys - j0);
            for (int64_t j = 0; j < nj; ++j) s[j] = dot(qi, k.at(b, hk, j0 + j), d.D) * scale;
            exp_shifted(s, lse_i, p, nj);  // P_ij recomputed from the saved log-sum-exp
            for (int64_t j = 0; j < nj; ++j) {
              const T* kj = k.at(b, hk, j0 + j);
              const T* vj = v.at(b, hk, j0 + j);
              T dp = dot(doi, vj, d.D);  // dL/d(dropped P_ij)
              T pd = p[j];
              if (drop) {
                const bool keep = mask.keep(mask_row + uint64_t(j0 + j));
                dp = keep ? dp * keep_scale : T(0);
                pd = keep ? p[j] * keep_scale : T(0);
              }
              const T ds = p[j] * (dp - Di) * scale;  // dL/d(q_i·k_j)
              axpy(ds, kj, dqi, d.D);
              axpy(ds, qi, dk.at(b, hk, j0 + j), d.D);
              if (pd != T(0)) axpy(pd, doi, dv.at(b, hk, j0 + j), d.D);
            }
          }
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
