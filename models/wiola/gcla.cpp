// (ii) Gated Cross-Layer Attention: layer l ≥ 2 (1-indexed) reads summaries s_k = C_k h_{l−k} of
// the outputs of the two layers before, through a gate σ(β):
//   same_position:  σ(β) ⊙ Wo Σ_k softmax_k(q_t·s_k,t / √r) s_k,t                  (q = Wq u)
//   causal_cache:   σ(β) ⊙ Wo Σ_{k, j ≤ t} softmax(q_t·s_k,j / √r) s_k,j   (decoding caches the s_k,j)
// The module (modules.h: Gcla) holds Wq (query), C_1, C_2 (compress1, compress2), Wo (out) and β.
#include <cmath>

#include "autograd/nn_ops.h"
#include "autograd/ops.h"
#include "models/wiola/modules.h"
#include "nn/linear.h"

namespace loupe::models {

using nn::linear;

Var gated_cross_layer(const Var& u, const Var& h1, const Var& h2, const Var& wq, const Var& c1, const Var& c2,
                      const Var& wo, const Var& beta) {
  const Var q = linear(u, wq), s1 = linear(h1, c1), s2 = linear(h2, c2);
  const int64_t last = u.dim() - 1;
  // Two keys per position: the summaries of the same token in the two layers before.
  const Var logits =
      concat({sum(q * s1, {last}, true), sum(q * s2, {last}, true)}, last) * (1.0 / std::sqrt(double(wq.size(0))));
  const Var w = softmax(logits, last);
  const Var o = narrow(w, last, 0, 1) * s1 + narrow(w, last, 1, 1) * s2;
  return sigmoid(beta) * linear(o, wo);
}

using wiola::kHidden;

Var gcla_causal_attend(const Var& q, const Var& s1, const Var& s2, const Var& wo, const Var& beta) {
  LOUPE_CHECK(q.dim() == 3 && s1.dim() == 3 && s2.shape() == s1.shape() && q.size(0) == s1.size(0) &&
                  q.size(2) == s1.size(2) && q.size(1) <= s1.size(1),
              "gcla_causal_attend: q ", q.value().str(), ", s1 ", s1.value().str(), ", s2 ", s2.value().str(),
              " must be [B, T, r] and [B, Tk >= T, r]");
  const int64_t T = q.size(1), Tk = s1.size(1), off = Tk - T;
  Tensor mask = Tensor::empty({T, Tk}, q.dtype());
  for (int64_t i = 0; i < T; ++i)
    for (int64_t j = 0; j < Tk; ++j) mask.set({i, j}, j <= off + i ? 0.0 : kHidden);
  const double scale = 1.0 / std::sqrt(double(q.size(2)));
  // One softmax over both layers' summaries of every visible position.
  const Var l1 = matmul(q, transpose(s1, 1, 2)) * scale + Var(mask);
  const Var l2 = matmul(q, transpose(s2, 1, 2)) * scale + Var(mask);
  const Var p = softmax(concat({l1, l2}, 2), 2);
  const Var o1 = matmul(narrow(p, 2, 0, Tk), s1);
  const Var o2 = matmul(narrow(p, 2, Tk, Tk), s2);
  const Var o = linear(o1 + o2, wo);
  return sigmoid(beta) * o;
}

Var gated_cross_layer_causal(const Var& u, const Var& h1, const Var& h2, const Var& wq, const Var& c1, const Var& c2,
                             const Var& wo, const Var& beta) {
  const Var q = linear(u, wq);
  const Var s1 = linear(h1, c1);
  const Var s2 = linear(h2, c2);
  return gcla_causal_attend(q, s1, s2, wo, beta);
}

}  // namespace loupe::models
