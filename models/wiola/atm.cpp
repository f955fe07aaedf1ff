// (iii) Adaptive Token Merging in the middle layers (τ = atm_threshold), two readings:
//   causal:          adjacent key/value pairs (2j, 2j+1) with cosine(k_2j, k_2j+1) ≥ τ become one
//                    entry (their mean) with log 2 added to its logit, visible to queries t ≥ 2j+1
//                    only; queries are never merged.
//   greedy_unmerge:  (training only, as released) adjacent layer inputs with cosine ≥ τ merged
//                    greedily left to right; the merged token runs through attention once and its
//                    output is copied back to both positions. It leaks the future (tested, reported).
#include <algorithm>
#include <cmath>
#include <limits>

#include "autograd/attention_probe.h"
#include "autograd/nn_ops.h"
#include "autograd/ops.h"
#include "models/wiola/modules.h"

namespace loupe::models {

using wiola::kHidden;

Var atm_attention(const Var& q, const Var& k, const Var& v, int64_t q_offset, double threshold, AtmStats* stats) {
  LOUPE_CHECK(q.dim() == 4 && k.dim() == 4 && v.shape() == k.shape() && q.size(0) == k.size(0) &&
                  q.size(1) == k.size(1) && q.size(3) == k.size(3),
              "atm_attention: q ", q.value().str(), ", k ", k.value().str(), ", v ", v.value().str(),
              " must be [B, H, T, D] with matching B, H, D");
  const int64_t B = q.size(0), H = q.size(1), Tq = q.size(2), D = q.size(3), Tk = k.size(2), np = Tk / 2;
  LOUPE_CHECK(q_offset + Tq == Tk, "atm_attention: ", Tq, " queries after ", q_offset, " earlier tokens need ",
              q_offset + Tq, " keys, got ", Tk);
  const DType dt = q.dtype();
  // The merge decision (not differentiated): cosine of the two keys of each complete pair.
  std::vector<char> merged(size_t(B * H * np), 0);
  {
    const Tensor kd = k.value().to(DType::F64).contiguous();
    const double* pk = kd.data<double>();
    for (int64_t r = 0; r < B * H; ++r)
      for (int64_t j = 0; j < np; ++j) {
        const double *a = pk + (r * Tk + 2 * j) * D, *b = a + D;
        double ab = 0, aa = 0, bb = 0;
        for (int64_t e = 0; e < D; ++e) ab += a[e] * b[e], aa += a[e] * a[e], bb += b[e] * b[e];
        merged[size_t(r * np + j)] = ab >= threshold * std::sqrt(aa * bb) && aa > 0 && bb > 0;
      }
  }
  // Additive masks: 0 where visible, kHidden where not; log 2 on merged entries.
  Tensor mask_o = Tensor::empty({B, H, Tq, Tk}, dt), mask_m = Tensor::empty({B, H, Tq, np}, dt);
  int64_t n_merged = 0, saved = 0, full = 0;
  LOUPE_DISPATCH(dt, T, {
    T *mo = mask_o.data<T>(), *mm = mask_m.data<T>();
    for (int64_t r = 0; r < B * H; ++r)
      for (int64_t i = 0; i < Tq; ++i) {
        const int64_t t = q_offset + i;  // absolute position of the query
        full += t + 1;
        for (int64_t j = 0; j < Tk; ++j) {
          const bool pair_merged = j / 2 < np && merged[size_t(r * np + j / 2)] && t >= (j / 2) * 2 + 1;
          mo[(r * Tq + i) * Tk + j] = T(j <= t && !pair_merged ? 0.0 : kHidden);
        }
        for (int64_t m = 0; m < np; ++m) {
          const bool vis = merged[size_t(r * np + m)] && t >= 2 * m + 1;
          mm[(r * Tq + i) * np + m] = T(vis ? std::log(2.0) : kHidden);
          saved += vis;
        }
      }
  });
  for (char m : merged) n_merged += m;
  if (stats) *stats = AtmStats{B * H * np, n_merged, full, full - saved};

  const double scale = 1.0 / std::sqrt(double(D));
  const Var s = matmul(q, transpose(k, 2, 3)) * scale + Var(mask_o);  // [B, H, Tq, Tk]
  if (np == 0) {
    const Var p = softmax(s, 3);
    if (attention_probe_active()) report_attention(p.value());
    return matmul(p, v);
  }
  // Merged entries: the mean of each pair's keys and values.
  const Var kb = mean(reshape(narrow(k, 2, 0, 2 * np), {B, H, np, 2, D}), {3});
  const Var vb = mean(reshape(narrow(v, 2, 0, 2 * np), {B, H, np, 2, D}), {3});
  const Var sm = matmul(q, transpose(kb, 2, 3)) * scale + Var(mask_m);  // [B, H, Tq, np]
  const Var p = softmax(concat({s, sm}, 3), 3);
  if (attention_probe_active()) {  // the weights over the tokens: a merged pair's weight split between its two
    Tensor eff = narrow(p, 3, 0, Tk).value().to(DType::F64).contiguous();
    const Tensor pm = narrow(p, 3, Tk, np).value().to(DType::F64).contiguous();
    double* e = eff.data<double>();
    const double* m = pm.data<double>();
    for (int64_t r = 0; r < B * H * Tq; ++r)
      for (int64_t j = 0; j < 2 * np; ++j) e[r * Tk + j] += 0.5 * m[r * np + j / 2];
    report_attention(eff);
  }
  return matmul(narrow(p, 3, 0, Tk), v) + matmul(narrow(p, 3, Tk, np), vb);
}

// ---- greedy_unmerge
std::vector<char> greedy_merge_plan(const Tensor& u, double threshold) {
  LOUPE_CHECK(u.dim() == 3, "greedy_merge_plan: u must be [B, T, d], got ", u.str());
  const int64_t B = u.size(0), T = u.size(1), d = u.size(2);
  const Tensor ud = u.to(DType::F64).contiguous();
  const double* pu = ud.data<double>();
  std::vector<char> first(size_t(B * T), 0);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t + 1 < T; ++t) {  // after a merge of (t, t+1) the scan goes on at t+2
      const double *x = pu + (b * T + t) * d, *y = x + d;
      double xy = 0, xx = 0, yy = 0;
      for (int64_t e = 0; e < d; ++e) xy += x[e] * y[e], xx += x[e] * x[e], yy += y[e] * y[e];
      if (xx > 0 && yy > 0 && xy >= threshold * std::sqrt(xx * yy)) first[size_t(b * T + t)] = 1, ++t;
    }
  return first;
}

Var attention_hiding_keys(const Var& q, const Var& k, const Var& v, const std::vector<char>& hidden) {
  LOUPE_CHECK(q.dim() == 4 && k.dim() == 4 && v.shape() == k.shape() && q.size(0) == k.size(0) &&
                  q.size(1) == k.size(1) && q.size(3) == k.size(3) && q.size(2) <= k.size(2),
              "attention_hiding_keys: q ", q.value().str(), ", k ", k.value().str(), ", v ", v.value().str(),
              " must be [B, H, Tq, D] and [B, H, Tk >= Tq, D]");
  const int64_t B = q.size(0), Tq = q.size(2), Tk = k.size(2), off = Tk - Tq;
  LOUPE_CHECK(int64_t(hidden.size()) == B * Tk, "attention_hiding_keys: hidden has ", hidden.size(),
              " entries for ", B, " x ", Tk, " keys");
  Tensor mask = Tensor::empty({B, 1, Tq, Tk}, q.dtype());
  for (int64_t b = 0; b < B; ++b)
    for (int64_t i = 0; i < Tq; ++i)
      for (int64_t j = 0; j < Tk; ++j)
        mask.set({b, 0, i, j}, j <= off + i && !hidden[size_t(b * Tk + j)] ? 0.0 : kHidden);
  const Var s = matmul(q, transpose(k, 2, 3)) * (1.0 / std::sqrt(double(q.size(3)))) + Var(mask);
  const Var p = softmax(s, 3);
  if (attention_probe_active()) report_attention(p.value());
  return matmul(p, v);
}

namespace wiola {

Var Attention::forward(const Var& x, nn::KVCache* cache, const std::vector<char>* hidden, AtmStats* stats) const {
  return forward_attending(x, cache, [&](const Var& q, const Var& k, const Var& v, int64_t pos0) {
    return attend_merging(q, k, v, pos0, hidden, stats);
  });
}

Var Attention::attend_merging(const Var& q, const Var& k, const Var& v, int64_t pos0, const std::vector<char>* hidden,
                              AtmStats* stats) const {
  if (!use_atm || (greedy && !hidden)) return attend(q, k, v, pos0);
  const int64_t B = k.size(0), H = q.size(1), Tk = k.size(2), D = k.size(3);
  Var kt = k, vt = v;
  if (n_kv != H) {  // grouped-query: give every query head its kv head
    const int64_t G = H / n_kv;
    kt = reshape(expand(unsqueeze(k, 2), {B, n_kv, G, Tk, D}), {B, H, Tk, D});
    vt = reshape(expand(unsqueeze(v, 2), {B, n_kv, G, Tk, D}), {B, H, Tk, D});
  }
  if (greedy) return attention_hiding_keys(q, kt, vt, *hidden);
  return atm_attention(q, kt, vt, pos0, wcfg.atm_threshold, stats);
}

// ATM greedy_unmerge around one attention call (training only): u' = M u averages each merged pair
// (t, t+1) into both rows; attention runs with the second copies' key columns hidden, so the merged
// token is one entry; then y' = G y copies the merged row t's output to t+1 (unmerge restoration).
// M and G are constant [B, T, T] matrices, so gradients flow through the averaging and the copy.
// `attention` is the layer's child, so the call keeps its module path.
Var greedy_unmerge_attention(const nn::Child<Attention>& attention, const Var& u, AtmStats* stats) {
  const int64_t B = u.size(0), T = u.size(1), H = attention->cfg.n_head;
  const std::vector<char> first = greedy_merge_plan(u.value(), attention->wcfg.atm_threshold);
  std::vector<char> hidden(size_t(B * T), 0);
  Tensor M = Tensor::zeros({B, T, T}, u.dtype()), G = Tensor::zeros({B, T, T}, u.dtype());
  int64_t merged = 0, entries = 0;
  for (int64_t b = 0; b < B; ++b) {
    int64_t kept = 0;
    for (int64_t t = 0; t < T; ++t) {
      const size_t i = size_t(b * T + t);
      if (first[i]) {
        for (int64_t r : {t, t + 1}) {
          M.set({b, r, t}, 0.5);
          M.set({b, r, t + 1}, 0.5);
          G.set({b, r, t}, 1.0);
        }
        hidden[i + 1] = 1;
        ++merged;
        ++kept;
        ++t;
      } else {
        M.set({b, t, t}, 1.0);
        G.set({b, t, t}, 1.0);
        ++kept;
      }
    }
    entries += kept * (kept + 1) / 2;
  }
  *stats = AtmStats{B * H * (T / 2), H * merged, B * H * T * (T + 1) / 2, H * entries};
  const Var averaged = matmul(Var(M), u);
  const Var y = attention(averaged, nullptr, &hidden, nullptr);
  return matmul(Var(G), y);
}
}  // namespace wiola

}  // namespace loupe::models
