// ELiTA: Efficient Linear-Time Attention transformer (equations, defaults and how they follow
// the author's TensorFlow code: docs/models/elita.md).
//
//   x0 = Wte[t]                                    no position embedding: Attention2 has its own
//   repeat `wraps` times (shared weights; with wraps > 1 add the learned bias of step r first):
//     for each layer:  x = x + Attention2(LN(x));  x = x + FeedForward2(LN(x))
//   logits = LN(x) · Wteᵀ                          tied head
//   (optional) logits = W_b · σ(W_a · logits + b_a) + b_b        the logits feed-forward
// LN is the author's parameter-free layer norm (Keras LayerNormalization(scale=False, center=False)).
//
// Attention2, per head h (its own k1, k2, k3 ∈ R^d, a1, b1, a2, b2, c ∈ R^{d2}, V ∈ R^{d3×d}):
//   a_j = k1·x_j + c·sin(j·a1/n + b1),  g_i = c·sin(i·a2/n + b2) + k3·x_i,  d_i = k2·x_i
//   y_i = softmax over {d_i} ∪ {g_i + a_j : j ≤ i} of the values {V x_i} ∪ {V x_j}
// computed in O(n) by the fused op elita_attention (stabilised cumulative sums); n is the
// configured block size (also at generation time). The heads are concatenated and projected
// back to d (the author's output_weight).
// FeedForward2: y = einsum("bi,bj,ijk->bk", σ(W1 x + b1), σ(W2 x + b2), W3) + b3, σ = SiLU,
// W2 of `ff_scale` rows (default 8).
#pragma once
#include <vector>

#include "models/decoder.h"
#include "tensor/kernels/elita_attention.h"

namespace loupe::models {

struct ElitaConfig : DecoderShape {
  // ELiTA's own defaults of the shared keys: block_size 256 (also the n of the positional sines), n_embd 64.
  ElitaConfig() {
    block_size = 256;
    n_embd = 64;
  }
  int64_t head_width = 16;    // d3: value width of one head
  int64_t pos_width = 16;     // d2: number of sine bases per head
  int64_t ff_scale = 8;       // rows of FeedForward2's W2 (the author's "scale factor")
  int64_t wraps = 1;          // recurrent wrapping: run the layer stack this many times (1 = off)
  int64_t logits_ffn_hidden = 0;  // width of the logits feed-forward (0 = off)
  double norm_eps = 1e-5;
  // The author's code (main.py) where it differs from his README (docs/models/elita.md):
  std::string pos_scale = "n";  // positions i / n ("n") or i / (n − 1) ("n-1": main.py's linspace(0, 1, n))
  double logit_clip = 0;        // clip each logit group to [−c, c] before exp (main.py: 20); 0 = exact
  std::string init = "loupe";   // "keras": value/out as [H, d, d3] kernels and W3 as [d, s, d] (Glorot fans)
  bool query_term = true;       // k3·x_i in the query side (false: the author's plotted run, no k3)

  static const ConfigKeys<ElitaConfig>& keys();
  static ElitaConfig from_json(const nlohmann::json& j) { return read_config<ElitaConfig>(j); }
  void resolve(const std::string& model) const;  // the relations between keys
  nlohmann::json to_json() const { return keys().write(*this, "elita"); }
  DecoderSpec spec() const;
  double count_parameters() const;
};

struct ElitaAttentionWeights {
  Var keys;                  // [3, H, d]: rows k1 (key logit), k2 (diagonal), k3 (query logit; absent
                             // without query_term: [2, H, d])
  Var a1, b1, a2, b2, c;     // [H, d2] each
  Var value;                 // [H·d3, d]
  Var proj;                  // [d, H·d3]
};

struct ElitaFeedForwardWeights {
  Var w1, b1;  // [d, d], [d]
  Var w2, b2;  // [s, d], [s]
  Var w3, b3;  // [d, s, d], [d]
};

// Attention2 of x [B, T, d] whose tokens sit at positions pos_offset + t; n = c.block_size.
// With `state` (generation), the running sums continue from it and are updated (no graph).
Var elita_attention2(const Var& x, const ElitaAttentionWeights& w, const ElitaConfig& c, int64_t pos_offset,
                     ElitaState* state = nullptr);
// FeedForward2 of x [B, T, d].
Var elita_feedforward2(const Var& x, const ElitaFeedForwardWeights& w);
// The author's parameter-free layer norm over the last dim.
Var elita_norm(const Var& x, double eps);

// Per layer and wrap, the running max and sums of Attention2 (m [B, H], S [B, H], N [B, H, d3]):
// O(1) memory per token, no keys or values.
struct ElitaLayerCache : nn::LayerCache {
  ElitaState state;
  int64_t bytes() const override { return state.bytes(); }
};

class LogitsFfn;  // the optional logits feed-forward (models/elita.cpp)

class ElitaModel : public ConfiguredDecoder<ElitaConfig> {
 public:
  explicit ElitaModel(const ElitaConfig& c);
  ElitaAttentionWeights attention_weights(int64_t layer) const;
  ElitaFeedForwardWeights feedforward_weights(int64_t layer) const;

 protected:
  Var before_layer(const Var& x, int64_t layer) override;  // the wrap bias at the start of each wrap
  Var head(const Var& x) override;                         // + the logits feed-forward
  bool fused_head() const override { return false; }        // (so the loss keeps head())

 private:
  Var wrap_bias_;  // [wraps, d] only when wraps > 1
  nn::Child<LogitsFfn> logits_ffn_;  // logits_ffn_hidden > 0 only
};

}  // namespace loupe::models
