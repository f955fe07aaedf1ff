// Wiola (arXiv 2607.01394; equations, defaults and interpretations: docs/models/wiola.md; the
// code: models/wiola/, one file per component): a
// LLaMA-style decoder with five components, each a config switch so it can be ablated against
// the baseline. The defaults follow the authors' released config ("release" readings); loupe's
// earlier readings stay available as switches (configs/wiola-baby.json uses them):
//   offset_norm  WiolaRMSNorm  y = g ⊙ x / rms(x) + β                    (β init 0; eps 1e-6)
//   dsff         Dual-Stream FF y = σ(γ) ⊙ A(u) + (1 − σ(γ)) ⊙ B(u)
//                  dsff_widths "release":  A = W2a GELU(W1a u) of width d, B = W2b GELU(W1b u) of width 4d
//                  dsff_widths "balanced": A of width 2d, B = W2b (SiLU(W1b u) ⊙ W3b u) of width 4d/3
//   srpe         Spiral RoPE   rotary pairs in three bands: relative (p·θ), hierarchical (⌊p/S⌋·θ),
//                              helix (p·θ·(1 + α_h √p / √P), α learned per head, init 0), each pair
//                              scaled by the radial term r_p = 1 + A·sin(ω·p) (A = 0.1, ω = 0.01, S = 8)
//   gcla         Gated Cross-Layer Attention: layer l ≥ 2 (1-indexed) reads summaries s_k = C_k h_{l−k}
//                of the outputs of layers l−1 and l−2, added through σ(β), β = −3:
//                  gcla_mode "causal_cache":  a sub-attention over the summaries of every position ≤ t
//                                             (decoding keeps them in a per-layer summary cache)
//                  gcla_mode "same_position": over the two summaries of position t only
//   atm          Adaptive Token Merging in the middle layers (τ = 0.92):
//                  atm_mode "causal": adjacent key/value pairs (2j, 2j+1) with cosine(k_2j, k_2j+1) ≥ τ
//                    become one entry (their mean) with log 2 added to its logit, visible to queries
//                    t ≥ 2j+1 only; queries are never merged.
//                  atm_mode "greedy_unmerge" (training only, as released): adjacent tokens whose layer
//                    inputs have cosine ≥ τ are merged greedily left to right, the merged token runs
//                    through attention once and its output is copied back to both positions. Its
//                    merged query at t has read token t+1: it LEAKS THE FUTURE (tested, reported).
// With every switch off (and norm_eps 1e-5) the model is exactly models/llama.cpp: same parameter
// names, same init, same ops (a test loads one state dict into both and compares logits).
//
//   x = tok_embeddings[ids];  h_0 = x
//   for each layer l = 1..L:
//     u = attention_norm(x);  x = x + Attn(u)                     (SRPE rotation; ATM in middle layers)
//     if gcla and l ≥ 2:      x = x + σ(β) ⊙ Wo · Σ_{k,j} softmax(q·s_k,j/√r) s_k,j,  q = Wq u
//     x = x + FFN(ffn_norm(x))                                    (DSFF or SwiGLU);  h_l = x
//   logits = norm(x) · Woutᵀ
#pragma once
#include <string>
#include <vector>

#include "models/llama.h"

namespace loupe::models {

struct WiolaConfig : LlamaConfig {  // the LLaMA baseline's keys, same meaning and defaults but norm_eps
  WiolaConfig() { norm_eps = 1e-6; }  // the released config's rms_norm_eps
  // The five switches.
  bool offset_norm = true, dsff = true, srpe = true, gcla = true, atm = true;
  // Component settings.
  double srpe_relative = 0.5, srpe_hierarchical = 0.25;  // fractions of each head's rotary pairs; helix = rest
  int64_t srpe_segment = 8;                              // S: tokens per helix turn (the spiral divisor)
  double srpe_radial_amplitude = 0.1, srpe_radial_frequency = 0.01;  // r_p = 1 + A·sin(ω·p); A = 0: none
  std::string gcla_mode = "causal_cache";                // or "same_position"
  int64_t gcla_rank = 0;                                 // r; 0: n_embd / 4
  double gcla_gate_init = -3.0;                          // β: σ(−3) ≈ 0.047
  std::string atm_mode = "causal";                       // or "greedy_unmerge" (training only; leaks)
  double atm_threshold = 0.92;                           // τ
  int64_t atm_first = -1, atm_last = -1;                 // 0-indexed layer range; −1: the middle third
  std::string dsff_widths = "release";                   // or "balanced"
  int64_t dsff_hidden_a = 0, dsff_hidden_b = 0;          // 0: release d and 4d; balanced 2d and 4d/3 (to 8)

  static const ConfigKeys<WiolaConfig>& keys();  // LLaMA's keys, then Wiola's
  static WiolaConfig from_json(const nlohmann::json& j) { return read_config<WiolaConfig>(j); }
  // Fills the derived defaults (0 / −1 above) and checks the values; the model calls it too.
  void resolve(const std::string& model = "wiola");
  nlohmann::json to_json() const { return keys().write(*this, "wiola"); }
  bool atm_layer(int64_t layer) const;  // ATM on in this 0-indexed layer?
  double count_parameters() const;      // after resolve()
};

// ---- the components as functions (tested and gradchecked on their own) ----

// Rotary pair bands of SRPE for head size D: pairs [0, n_rel) relative, [n_rel, n_rel + n_hier)
// hierarchical, the rest helix.
struct SrpeBands {
  int64_t n_rel = 0, n_hier = 0, n_helix = 0;
  static SrpeBands of(const WiolaConfig& c, int64_t head_dim);
};
// The radial term: every rotated pair of the token at position p is scaled by 1 + A·sin(ω·p).
struct SrpeRadial {
  double amplitude = 0, frequency = 0;
};
// Rotates x [B, T, H, D] (tokens at positions pos0 + t) with the interleaved-pair convention of
// autograd/nn_ops.h rope(): pair i of head h turns by its band's angle (and is scaled by r_p). alpha: [H].
Var srpe_rotate(const Var& x, int64_t pos0, const Var& alpha, const SrpeBands& bands, int64_t segment,
                int64_t block_size, double base, SrpeRadial radial = {});

// ATM statistics of one attention call.
struct AtmStats {
  int64_t pairs = 0, merged = 0;                // complete adjacent key pairs (per batch and head), merged ones
  int64_t entries_full = 0, entries_merged = 0;  // (query, key-entry) products without / with merging
  double merge_rate() const { return pairs ? double(merged) / double(pairs) : 0.0; }
  double cost_saved() const { return entries_full ? 1.0 - double(entries_merged) / double(entries_full) : 0.0; }
};
// Causal attention with adaptive token merging. q [B, H, Tq, D] at positions q_offset + i;
// k, v [B, H, Tk, D] at positions 0..Tk−1 (Tk = q_offset + Tq). Returns [B, H, Tq, D].
Var atm_attention(const Var& q, const Var& k, const Var& v, int64_t q_offset, double threshold,
                  AtmStats* stats = nullptr);

// WiolaRMSNorm: rms_norm(x, g) + β (β undefined: plain RMSNorm).
Var wiola_rms_norm(const Var& x, const Var& weight, const Var& offset, double eps);

// DSFF of u [..., d]: σ(γ) ⊙ W2a GELU(W1a u) + (1 − σ(γ)) ⊙ W2b (SiLU(W1b u) ⊙ W3b u); weights [out, in].
// With w3b undefined the second stream is a GELU MLP too: W2b GELU(W1b u) (the release widths).
Var dual_stream_ff(const Var& u, const Var& w1a, const Var& w2a, const Var& w1b, const Var& w2b, const Var& w3b,
                   const Var& gamma);

// GCLA of one layer: u [..., d] the normalised layer input, h1 / h2 the outputs of the two layers
// before; q = Wq u, s_k = C_k h_k ∈ R^r; returns σ(β) ⊙ Wo Σ_k softmax_k(q·s_k / √r) s_k.
Var gated_cross_layer(const Var& u, const Var& h1, const Var& h2, const Var& wq, const Var& c1, const Var& c2,
                      const Var& wo, const Var& beta);

// GCLA "causal_cache": the queries q [B, T, r] (positions Tk − T .. Tk − 1) attend over the summaries
// s1, s2 [B, Tk, r] of positions 0..Tk−1, two entries per position, position j visible to query t iff
// j ≤ t; returns σ(β) ⊙ Wo Σ_{k, j ≤ t} softmax(q_t·s_k,j / √r) s_k,j. A decode step passes the cached
// summaries (Tk > T).
Var gcla_causal_attend(const Var& q, const Var& s1, const Var& s2, const Var& wo, const Var& beta);
// The whole-sequence form: q = Wq u, s_k = C_k h_k, then gcla_causal_attend.
Var gated_cross_layer_causal(const Var& u, const Var& h1, const Var& h2, const Var& wq, const Var& c1, const Var& c2,
                             const Var& wo, const Var& beta);

// ATM "greedy_unmerge": the merge plan of u [B, T, d]: scanning t = 0, 1, ... left to right, (t, t+1)
// merge when neither is merged yet and cos(u_t, u_t+1) ≥ τ. Returns first[b·T + t] = true where t is
// the first of a merged pair (t+1 is its second copy).
std::vector<char> greedy_merge_plan(const Tensor& u, double threshold);
// Causal attention whose key columns marked in hidden [B·Tk] are invisible to every query.
// q [B, H, Tq, D] at positions Tk − Tq.., k, v [B, H, Tk, D]; returns [B, H, Tq, D].
Var attention_hiding_keys(const Var& q, const Var& k, const Var& v, const std::vector<char>& hidden);

class WiolaModel : public ConfiguredDecoder<WiolaConfig> {
 public:
  explicit WiolaModel(const WiolaConfig& c);
  // ATM statistics of the last forward, one entry per layer (zeros where ATM is off).
  std::vector<AtmStats> atm_stats() const;
  // With ATM on: atm_merge_rate (merged / complete adjacent key pairs) and atm_cost_saved
  // (fraction of query-key products saved), over all layers of the last forward.
  std::vector<std::pair<std::string, double>> step_stats() const override;
};

}  // namespace loupe::models
