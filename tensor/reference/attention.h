// Textbook causal attention (twin of tensor/kernels/attention.h, same arguments): for each
// batch b, query head h (reading kv head h / (H/Hkv)) and query row i at position q_offset + i,
//   s_j = scale · q_i·k_j  for j ≤ q_offset + i,   P_j = e^{s_j − lse},   lse = log Σ_j e^{s_j}
//   o_i = Σ_j P_j · m_j/(1 − p) · v_j              m_j: the Philox dropout mask (1 when p = 0)
// backward, with Pd_j = P_j m_j/(1 − p):
//   dv_j += Pd_j dO_i,   dP_j = (dO_i·v_j) m_j/(1 − p),   Δ = Σ_j P_j dP_j,   dS_j = P_j (dP_j − Δ)
//   dq_i = scale Σ_j dS_j k_j,   dk_j += scale dS_j q_i
// The score row is materialised: O(Tk) memory per row, O(Tq·Tk) work per head, f64 throughout.
#pragma once
#include <algorithm>
#include <cmath>
#include <vector>

#include "tensor/kernels/attention.h"
#include "tensor/kernels/dropout.h"
#include "tensor/tensor.h"

namespace loupe::reference {

// The probabilities of row (b, h, i) after dropout's scaling, and P itself; returns lse.
template <typename T>
double attention_row(const kernels::AttnDims& d, kernels::AttnRef<const T> q, kernels::AttnRef<const T> k, int64_t b,
                     int64_t h, int64_t i, std::vector<double>& P, std::vector<double>& Pd) {
  const int64_t hk = h / (d.H / d.Hkv), n = d.q_offset + i + 1;  // keys visible to this row
  P.assign(size_t(n), 0.0), Pd.assign(size_t(n), 0.0);
  const T* qi = q.at(b, h, i);
  double mx = -INFINITY;
  for (int64_t j = 0; j < n; ++j) {
    const T* kj = k.at(b, hk, j);
    double s = 0;
    for (int64_t e = 0; e < d.D; ++e) s += double(qi[e]) * double(kj[e]);
    P[size_t(j)] = s * d.scale;
    mx = std::max(mx, P[size_t(j)]);
  }
  double sum = 0;
  for (auto& p : P) sum += (p = std::exp(p - mx));
  kernels::DropoutMask mask(d.seed, d.counter, d.dropout_p);
  for (int64_t j = 0; j < n; ++j) {
    P[size_t(j)] /= sum;
    const bool keep = d.dropout_p <= 0 || mask.keep(uint64_t(((b * d.H + h) * d.Tq + i) * d.Tk + j));
    Pd[size_t(j)] = keep ? P[size_t(j)] / (1.0 - d.dropout_p) : 0.0;
  }
  return mx + std::log(sum);
}

// P itself, before dropout: f64 [B, H, Tq, Tk], 0 where the mask hides a key.
template <typename T>
Tensor attention_probabilities(const kernels::AttnDims& d, kernels::AttnRef<const T> q, kernels::AttnRef<const T> k) {
  Tensor out = Tensor::zeros({d.B, d.H, d.Tq, d.Tk}, DType::F64);
  double* p = out.data<double>();
  std::vector<double> P, Pd;
  for (int64_t b = 0; b < d.B; ++b)
    for (int64_t h = 0; h < d.H; ++h)
      for (int64_t i = 0; i < d.Tq; ++i) {
        attention_row(d, q, k, b, h, i, P, Pd);
        std::copy(P.begin(), P.end(), p + ((b * d.H + h) * d.Tq + i) * d.Tk);
      }
  return out;
}

template <typename T>
void attention_forward(const kernels::AttnDims& d, kernels::AttnRef<const T> q, kernels::AttnRef<const T> k,
                       kernels::AttnRef<const T> v, kernels::AttnRef<T> o, T* lse) {
  std::vector<double> P, Pd;
  for (int64_t b = 0; b < d.B; ++b)
    for (int64_t h = 0; h < d.H; ++h)
      for (int64_t i = 0; i < d.Tq; ++i) {
        lse[(b * d.H + h) * d.Tq + i] = T(attention_row(d, q, k, b, h, i, P, Pd));
        for (int64_t e = 0; e < d.Dv; ++e) {
          double acc = 0;
          for (size_t j = 0; j < Pd.size(); ++j) acc += Pd[j] * double(v.at(b, h / (d.H / d.Hkv), int64_t(j))[e]);
          o.at(b, h, i)[e] = T(acc);
        }
      }
}

template <typename T>
void attention_backward(const kernels::AttnDims& d, kernels::AttnRef<const T> q, kernels::AttnRef<const T> k,
                        kernels::AttnRef<const T> v, kernels::AttnRef<const T> o, kernels::AttnRef<const T> dout,
                        const T* lse, kernels::AttnRef<T> dq, kernels::AttnRef<T> dk, kernels::AttnRef<T> dv) {
  // f64 accumulators for dk, dv: [B, Hkv, Tk, D or Dv].
  std::vector<double> gk(size_t(d.B * d.Hkv * d.Tk * d.D), 0.0), gv(size_t(d.B * d.Hkv * d.Tk * d.Dv), 0.0);
  std::vector<double> P, Pd, dP;
  for (int64_t b = 0; b < d.B; ++b)
    for (int64_t h = 0; h < d.H; ++h)
      for (int64_t i = 0; i < d.Tq; ++i) {
        const int64_t hk = h / (d.H / d.Hkv);
        attention_row(d, q, k, b, h, i, P, Pd);
        const T *gi = dout.at(b, h, i), *qi = q.at(b, h, i);
        const int64_t n = int64_t(P.size());
        dP.assign(size_t(n), 0.0);
        double delta = 0;
        for (int64_t j = 0; j < n; ++j) {
          const T* vj = v.at(b, hk, j);
          double gdotv = 0;
          for (int64_t e = 0; e < d.Dv; ++e) {
            gdotv += double(gi[e]) * double(vj[e]);
            gv[size_t(((b * d.Hkv + hk) * d.Tk + j) * d.Dv + e)] += Pd[size_t(j)] * double(gi[e]);
          }
          dP[size_t(j)] = P[size_t(j)] > 0 ? gdotv * Pd[size_t(j)] / P[size_t(j)] : 0.0;  // · m_j/(1 − p)
          delta += P[size_t(j)] * dP[size_t(j)];
        }
        std::vector<double> gq(size_t(d.D), 0.0);
        for (int64_t j = 0; j < n; ++j) {
          const double ds = P[size_t(j)] * (dP[size_t(j)] - delta) * d.scale;
          const T* kj = k.at(b, hk, j);
          for (int64_t e = 0; e < d.D; ++e) {
            gq[size_t(e)] += ds * double(kj[e]);
            gk[size_t(((b * d.Hkv + hk) * d.Tk + j) * d.D + e)] += ds * double(qi[e]);
          }
        }
        for (int64_t e = 0; e < d.D; ++e) dq.at(b, h, i)[e] = T(gq[size_t(e)]);
      }
  for (int64_t b = 0; b < d.B; ++b)
    for (int64_t h = 0; h < d.Hkv; ++h)
      for (int64_t j = 0; j < d.Tk; ++j) {
        for (int64_t e = 0; e < d.D; ++e) dk.at(b, h, j)[e] = T(gk[size_t(((b * d.Hkv + h) * d.Tk + j) * d.D + e)]);
        for (int64_t e = 0; e < d.Dv; ++e) dv.at(b, h, j)[e] = T(gv[size_t(((b * d.Hkv + h) * d.Tk + j) * d.Dv + e)]);
      }
}

}  // namespace loupe::reference
