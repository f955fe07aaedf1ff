// Wiola's config: LLaMA's keys, then the five switches and their settings (models/wiola.h), each
// declared once in the key table; resolve() fills the derived defaults and checks the values.
#include <algorithm>

#include "models/wiola.h"

namespace loupe::models {

const ConfigKeys<WiolaConfig>& WiolaConfig::keys() {
  using C = WiolaConfig;
  static const auto t = ConfigKeys<C>("wiola")
      .include(LlamaConfig::keys())
      .boolean("offset_norm", &C::offset_norm, "WiolaRMSNorm: a learned offset β after every RMSNorm")
      .boolean("dsff", &C::dsff, "dual-stream feed-forward: two streams fused by a learned gate")
      .boolean("srpe", &C::srpe, "spiral RoPE: relative, hierarchical and helix bands")
      .boolean("gcla", &C::gcla, "gated cross-layer attention over the two layers before")
      .boolean("atm", &C::atm, "adaptive token merging of similar adjacent keys in the middle layers")
      .number("srpe_relative", &C::srpe_relative, 0, 1, "fraction of rotary pairs in the relative band")
      .number("srpe_hierarchical", &C::srpe_hierarchical, 0, 1, "fraction in the hierarchical band (rest: helix)")
      .integer("srpe_segment", &C::srpe_segment, 1, "S: tokens per helix turn / hierarchical segment", int64_t(1) << 20)
      .number("srpe_radial_amplitude", &C::srpe_radial_amplitude, -1, 1, "A of the radial term r_p = 1 + A sin(w p); 0: none")
      .number("srpe_radial_frequency", &C::srpe_radial_frequency, 0, 1e6, "w of the radial term (radians per position)")
      .choice("gcla_mode", &C::gcla_mode, {"causal_cache", "same_position"},
              "GCLA over the summaries of every position <= t (release), or of position t only")
      .integer("gcla_rank", &C::gcla_rank, 0, "GCLA summary width r; 0: n_embd / 4", int64_t(1) << 16)
      .number("gcla_gate_init", &C::gcla_gate_init, -100, 100, "initial GCLA gate logit β")
      .choice("atm_mode", &C::atm_mode, {"causal", "greedy_unmerge"},
              "ATM merging keys/values causally, or tokens greedily in training with unmerge (leaks the future)")
      .number("atm_threshold", &C::atm_threshold, -1, 2, "τ: merge a pair when its cosine >= τ")
      .integer("atm_first", &C::atm_first, -1, "first ATM layer (0-indexed); -1: start of the middle third", 1024)
      .integer("atm_last", &C::atm_last, -1, "last ATM layer; -1: end of the middle third", 1024)
      .choice("dsff_widths", &C::dsff_widths, {"release", "balanced"},
              "DSFF streams: GELU of width d and 4d (release), or GELU 2d and SwiGLU 4d/3")
      .integer("dsff_hidden_a", &C::dsff_hidden_a, 0, "first (GELU) stream width; 0: d (release) or 2d", int64_t(1) << 20)
      .integer("dsff_hidden_b", &C::dsff_hidden_b, 0, "second stream width; 0: 4d (release) or 4d/3 rounded up to 8",
               int64_t(1) << 20);
  return t;
}

void WiolaConfig::resolve(const std::string& model) {
  LlamaConfig::resolve(model);
  if (gcla_rank == 0) gcla_rank = std::max<int64_t>(1, n_embd / 4);
  const bool release = dsff_widths == "release";
  if (dsff_hidden_a == 0) dsff_hidden_a = release ? n_embd : 2 * n_embd;
  if (dsff_hidden_b == 0) dsff_hidden_b = release ? 4 * n_embd : (4 * n_embd / 3 + 7) / 8 * 8;
  if (atm_first < 0) atm_first = n_layer / 3;                // the middle third:
  if (atm_last < 0) atm_last = n_layer - 1 - n_layer / 3;  // layers [L/3, L − L/3)
  LOUPE_CHECK(srpe_relative + srpe_hierarchical <= 1.0, "wiola config: srpe_relative ", srpe_relative,
              " + srpe_hierarchical ", srpe_hierarchical, " exceed 1");
  LOUPE_CHECK(!(atm && atm_mode == "greedy_unmerge" && dropout > 0), "wiola config: \"atm_mode\": \"greedy_unmerge\" ",
              "has no attention-probability dropout; set \"dropout\": 0 (got ", dropout, ")");
}

double WiolaConfig::count_parameters() const {
  const double d = double(n_embd), o = offset_norm ? 2 : 1, L = double(n_layer);
  const double streams_b = dsff_widths == "release" ? 2 : 3;  // GELU: up, down; SwiGLU: w1, w2, w3
  const double ffn = dsff ? 2 * d * double(dsff_hidden_a) + streams_b * d * double(dsff_hidden_b) + d : 3 * d * double(ffn_hidden);
  const double attn = d * (d + 2 * double(n_kv_head * (n_embd / n_head))) + d * d + (srpe ? double(n_kv_head) : 0);
  const double gcla_layers = gcla ? std::max(0.0, L - 1) : 0;
  const double gcla_params = 3 * d * double(gcla_rank) + double(gcla_rank) * d + d;
  DecoderSpec s = spec("wiola");
  s.norm_bias = offset_norm;
  return skeleton_parameters(s) + L * (2 * o * d + attn + ffn) + gcla_layers * gcla_params;
}

bool WiolaConfig::atm_layer(int64_t layer) const { return atm && layer >= atm_first && layer <= atm_last; }

}  // namespace loupe::models
