// Wiola's modules, internal to models/wiola/: each holds a component's parameters and calls its
// function (models/wiola.h). model.cpp builds a layer from them.
#pragma once
#include <memory>
#include <vector>

#include "autograd/ops.h"
#include "models/wiola.h"
#include "nn/attention.h"
#include "nn/dropout.h"
#include "nn/feed_forward.h"
#include "nn/linear.h"

namespace loupe::models::wiola {

// 0 where visible, −1e9 (exp underflows to exactly 0) where hidden: the additive masks of GCLA and ATM.
constexpr double kHidden = -1e9;

// (iv) DSFF: y = B + σ(γ) ⊙ (A − B)  (= σ(γ) A + (1 − σ(γ)) B); stream B is w1/w2 (GELU, release)
// or w1/w2/w3 (SwiGLU, balanced).
class Dsff : public nn::FeedForward {
 public:
  explicit Dsff(const WiolaConfig& c) {
    const int64_t d = c.n_embd, ha = c.dsff_hidden_a, hb = c.dsff_hidden_b;
    gelu_up = register_module("gelu_up", std::make_shared<nn::Linear>(d, ha, false, c.dtype));
    gelu_down = register_module("gelu_down", std::make_shared<nn::Linear>(ha, d, false, c.dtype));
    w1 = register_module("w1", std::make_shared<nn::Linear>(d, hb, false, c.dtype));
    w2 = register_module("w2", std::make_shared<nn::Linear>(hb, d, false, c.dtype));
    if (c.dsff_widths == "balanced") w3 = register_module("w3", std::make_shared<nn::Linear>(d, hb, false, c.dtype));
    gate = register_parameter("gate", Tensor::zeros({d}, c.dtype));
    drop = register_module("drop", std::make_shared<nn::Dropout>(c.dropout));
  }
  Var forward(const Var& u) const override {
    return drop(dual_stream_ff(u, gelu_up->weight, gelu_down->weight, w1->weight, w2->weight,
                               w3 ? w3->weight : Var(), gate));
  }
  nn::Child<nn::Linear> gelu_up, gelu_down, w1, w2, w3;
  nn::Child<nn::Dropout> drop;
  Var gate;
};

// (ii) GCLA: a query from the layer's normalised input attends over the summaries s_k = C_k h_{l−k}
// (k = 1, 2) of every position ≤ t (causal_cache) or of its own position (same_position); the
// result, projected back, enters through σ(β).
class Gcla : public nn::Module {
 public:
  explicit Gcla(const WiolaConfig& c) : causal(c.gcla_mode == "causal_cache"), rank(c.gcla_rank) {
    const int64_t d = c.n_embd, r = c.gcla_rank;
    query = register_module("query", std::make_shared<nn::Linear>(d, r, false, c.dtype));
    compress1 = register_module("compress1", std::make_shared<nn::Linear>(d, r, false, c.dtype));
    compress2 = register_module("compress2", std::make_shared<nn::Linear>(d, r, false, c.dtype));
    out = register_module("out", std::make_shared<nn::Linear>(r, d, false, c.dtype));
    gate = register_parameter("gate", Tensor::full({d}, c.gcla_gate_init, c.dtype));
  }
  // summaries: the decode cache of this layer's s1 (as k) and s2 (as v), [B, max_len, 1, r]; or null.
  Var forward(const Var& u, const Var& h1, const Var& h2, nn::KVCache* summaries) const {
    if (!causal) return gated_cross_layer(u, h1, h2, query->weight, compress1->weight, compress2->weight, out->weight, gate);
    if (!summaries)
      return gated_cross_layer_causal(u, h1, h2, query->weight, compress1->weight, compress2->weight, out->weight, gate);
    // Decoding: append this step's summaries, then attend over all cached ones.
    const int64_t B = u.size(0), T = u.size(1);
    const Var q = query(u);
    const Var s1 = compress1(h1);
    const Var s2 = compress2(h2);
    auto [c1, c2] = summaries->append(reshape(s1, {B, T, 1, rank}).value(), reshape(s2, {B, T, 1, rank}).value(), "GCLA");
    const int64_t len = c1.size(1);
    return gcla_causal_attend(q, Var(c1.reshape({B, len, rank})), Var(c2.reshape({B, len, rank})), out->weight, gate);
  }
  std::unique_ptr<nn::KVCache> make_cache(int64_t batch, int64_t max_len, DType dt) const {
    return std::make_unique<nn::KVCache>(Tensor::zeros({batch, max_len, 1, rank}, dt),
                                         Tensor::zeros({batch, max_len, 1, rank}, dt));
  }
  bool causal;
  int64_t rank;
  nn::Child<nn::Linear> query, compress1, compress2, out;
  Var gate;
};

// The baseline attention (same c_attn / c_proj) with SRPE for its rotation and, in ATM layers,
// ATM for its attention. With both off it is exactly the baseline's.
class Attention : public nn::CausalSelfAttention {
 public:
  Attention(const WiolaConfig& c, bool use_atm);
  using CausalSelfAttention::forward;
  // One call. hidden: the key columns greedy_unmerge hides in this call ([B·T]; null: none, and
  // then a greedy layer attends plainly, as in evaluation). ATM writes its statistics to *stats.
  Var forward(const Var& x, nn::KVCache* cache, const std::vector<char>* hidden, AtmStats* stats) const;
  WiolaConfig wcfg;
  bool use_atm, greedy;
  SrpeBands bands;
  Var srpe_alpha;

 protected:
  Var rotate(const Var& x, int64_t pos0) const override;  // SRPE (srpe.cpp)

 private:
  Var attend_merging(const Var& q, const Var& k, const Var& v, int64_t pos0, const std::vector<char>* hidden,
                     AtmStats* stats) const;  // ATM (atm.cpp)
};

// ATM greedy_unmerge around one call of `attention` (training only), its statistics to *stats.
Var greedy_unmerge_attention(const nn::Child<Attention>& attention, const Var& u, AtmStats* stats);

}  // namespace loupe::models::wiola
