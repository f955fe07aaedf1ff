// (i) Spiral RoPE: each head's rotary pairs in three bands, turned by
//   relative:      p·θ_i
//   hierarchical:  ⌊p / S⌋·θ_i                      (S tokens per segment)
//   helix:         p·θ_i·(1 + α_h √p / √P)          (α learned per key/value head, init 0)
// and every rotated pair of position p scaled by the radial term r_p = 1 + A·sin(ω·p).
// The attention module (modules.h: wiola::Attention) rotates its queries and keys with it.
#include <algorithm>
#include <cmath>

#include "autograd/nn_ops.h"
#include "autograd/ops.h"
#include "models/wiola/modules.h"

namespace loupe::models {

SrpeBands SrpeBands::of(const WiolaConfig& c, int64_t head_dim) {
  const int64_t pairs = head_dim / 2;
  SrpeBands b;
  b.n_rel = std::min<int64_t>(pairs, std::llround(c.srpe_relative * double(pairs)));
  b.n_hier = std::min<int64_t>(pairs - b.n_rel, std::llround(c.srpe_hierarchical * double(pairs)));
  b.n_helix = pairs - b.n_rel - b.n_hier;
  return b;
}

Var srpe_rotate(const Var& x, int64_t pos0, const Var& alpha, const SrpeBands& bands, int64_t segment,
                int64_t block_size, double base, SrpeRadial radial) {
  LOUPE_CHECK(x.dim() == 4 && x.size(3) % 2 == 0, "srpe_rotate: x must be [B, T, H, D] with D even, got ",
              x.value().str());
  const int64_t T = x.size(1), H = x.size(2), D = x.size(3), P2 = D / 2;
  LOUPE_CHECK(bands.n_rel + bands.n_hier + bands.n_helix == P2, "srpe_rotate: bands ", bands.n_rel, " + ",
              bands.n_hier, " + ", bands.n_helix, " do not cover the ", P2, " pairs of head size ", D);
  LOUPE_CHECK(alpha.defined() && alpha.shape() == Shape({H}), "srpe_rotate: alpha must be [", H, "]");
  const DType dt = x.dtype();
  const int64_t nc = bands.n_rel + bands.n_hier, nh = bands.n_helix;
  auto theta = [&](int64_t i) { return std::pow(base, -2.0 * double(i) / double(D)); };
  // Fixed bands: relative angle p·θ_i, hierarchical ⌊p/S⌋·θ_i.
  Tensor cos_c = Tensor::empty({T, 1, nc}, dt), sin_c = Tensor::empty({T, 1, nc}, dt);
  // Helix band: angle p·θ_i + α_h · p·θ_i·√p/√P.
  Tensor ang = Tensor::empty({T, 1, nh}, dt), fan = Tensor::empty({T, 1, nh}, dt);
  // The radial term r_p = 1 + A·sin(ω·p), scaling both entries of every rotated pair.
  const bool radial_on = radial.amplitude != 0;
  Tensor rad = Tensor::empty({T, 1, 1}, dt);
  for (int64_t t = 0; t < T; ++t) {
    const int64_t p = pos0 + t;
    const double r = 1.0 + radial.amplitude * std::sin(radial.frequency * double(p));
    rad.set({t, 0, 0}, r);
    for (int64_t i = 0; i < nc; ++i) {
      const double a = (i < bands.n_rel ? double(p) : double(p / segment)) * theta(i);
      cos_c.set({t, 0, i}, r * std::cos(a)), sin_c.set({t, 0, i}, r * std::sin(a));  // A = 0: r is exactly 1
    }
    for (int64_t i = 0; i < nh; ++i) {
      const double a = double(p) * theta(nc + i);
      ang.set({t, 0, i}, a), fan.set({t, 0, i}, a * std::sqrt(double(p)) / std::sqrt(double(block_size)));
    }
  }
  Var cosv = Var(cos_c.expand({T, H, nc})), sinv = Var(sin_c.expand({T, H, nc}));
  if (nh > 0) {
    const Var phi = Var(ang) + reshape(alpha, {1, H, 1}) * Var(fan);  // [T, H, nh]
    Var ch = cos(phi), sh = sin(phi);
    if (radial_on) {
      ch = ch * Var(rad);
      sh = sh * Var(rad);
    }
    cosv = nc > 0 ? concat({cosv, ch}, 2) : ch;
    sinv = nc > 0 ? concat({sinv, sh}, 2) : sh;
  }
  // Interleaved pairs (x[2i], x[2i+1]) turned by their angle, as rope(), in one fused op.
  return rotate_pairs(x, cosv, sinv);
}

namespace wiola {

Attention::Attention(const WiolaConfig& c, bool use_atm_)
    : CausalSelfAttention(LlamaBlock::attention_config(c), c.dtype), wcfg(c), use_atm(use_atm_),
      greedy(use_atm_ && c.atm_mode == "greedy_unmerge") {
  bands = c.srpe ? SrpeBands::of(c, head_dim) : SrpeBands{head_dim / 2, 0, 0};
  // One helix α per key/value head, shared by the query heads of its group, so a query and the
  // keys it reads turn alike (with n_kv_head = n_head: one per head).
  if (c.srpe) srpe_alpha = register_parameter("srpe_alpha", Tensor::zeros({n_kv}, c.dtype));
}

Var Attention::rotate(const Var& x, int64_t pos0) const {
  if (!wcfg.srpe) return CausalSelfAttention::rotate(x, pos0);
  Var alpha = srpe_alpha;  // [Hkv]; queries: each head takes its group's α
  if (x.size(2) != n_kv) alpha = reshape(expand(unsqueeze(alpha, 1), {n_kv, x.size(2) / n_kv}), {x.size(2)});
  return srpe_rotate(x, pos0, alpha, bands, wcfg.srpe_segment, wcfg.block_size, wcfg.rope_base);
}

}  // namespace wiola

}  // namespace loupe::models
