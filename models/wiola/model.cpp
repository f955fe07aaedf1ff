// Wiola (docs/models/wiola.md; the equations in models/wiola.h): the LLaMA baseline of
// models/llama.cpp plus five switchable components, one file each in this folder (srpe, gcla,
// atm, dsff; WiolaRMSNorm is nn::RMSNorm with a bias). Names, init and ops of the baseline parts
// are llama.cpp's, so that all switches off give exactly the baseline.
//
// One layer l (0-indexed), its input x, u = attention_norm(x):
//   x = x + Attn(u)                 SRPE rotation; ATM in the middle layers
//   x = x + GCLA(u, h_l, h_{l−1})   layers l ≥ 1: the inputs of this layer and the one before
//   x = x + FFN(ffn_norm(x))        DSFF or SwiGLU
#include "models/wiola/modules.h"

#include "autograd/nn_ops.h"
#include "autograd/ops.h"
#include "nn/rmsnorm.h"
#include "nn/swiglu.h"

namespace loupe::models {

namespace {

// A Wiola layer's decode state: the attention's keys and values, and (causal GCLA) the summaries.
struct WiolaLayerCache : nn::LayerCache {
  std::unique_ptr<nn::KVCache> attention, summaries;
  int64_t bytes() const override { return attention->bytes() + (summaries ? summaries->bytes() : 0); }
};

class WiolaLayer : public DecoderBlock {
 public:
  WiolaLayer(const WiolaConfig& c, int64_t layer);

  Var forward(const Var& x_in, const BlockInput& in) override {
    auto* cache = static_cast<WiolaLayerCache*>(in.cache);
    const Var u = attention_norm(x_in);
    const Var att = attention->greedy && is_training() && !cache
                        ? wiola::greedy_unmerge_attention(attention, u, &atm_stats_)
                        : attention(u, cache ? cache->attention.get() : nullptr, nullptr, &atm_stats_);
    Var x = x_in + att;
    if (gcla) {
      const Var g = gcla(u, (*in.history)[size_t(in.layer)], (*in.history)[size_t(in.layer) - 1],
                         cache ? cache->summaries.get() : nullptr);
      x = x + g;
    }
    return x + feed_forward(ffn_norm(x));
  }

  // ATM's statistics of this layer's last forward (zeros where ATM is off).
  const AtmStats& atm_stats() const { return atm_stats_; }

  std::unique_ptr<nn::LayerCache> make_cache(int64_t batch, int64_t max_len, DType dt) const override {
    auto c = std::make_unique<WiolaLayerCache>();
    c->attention = attention->make_cache(batch, max_len, dt);
    if (gcla && gcla->causal) c->summaries = gcla->make_cache(batch, max_len, dt);
    return c;
  }

  nn::Child<nn::Norm> attention_norm, ffn_norm;
  nn::Child<wiola::Attention> attention;
  nn::Child<wiola::Gcla> gcla;
  nn::Child<nn::FeedForward> feed_forward;

 private:
  AtmStats atm_stats_;
};

WiolaLayer::WiolaLayer(const WiolaConfig& c, int64_t layer) {
  attention_norm = register_module("attention_norm", std::make_shared<nn::RMSNorm>(c.n_embd, c.norm_eps, c.dtype, c.offset_norm));
  attention = register_module("attention", std::make_shared<wiola::Attention>(c, c.atm_layer(layer)));
  if (c.gcla && layer >= 1) gcla = register_module("gcla", std::make_shared<wiola::Gcla>(c));
  ffn_norm = register_module("ffn_norm", std::make_shared<nn::RMSNorm>(c.n_embd, c.norm_eps, c.dtype, c.offset_norm));
  if (c.dsff)
    feed_forward = register_module("feed_forward", std::make_shared<wiola::Dsff>(c));
  else
    feed_forward = register_module("feed_forward", std::make_shared<nn::SwiGLU>(c.n_embd, c.ffn_hidden, c.dropout, c.dtype));
}

DecoderSpec wiola_spec(const WiolaConfig& c) {
  DecoderSpec s = c.spec("wiola");
  s.norm_bias = c.offset_norm;  // the final norm is a WiolaRMSNorm too
  return s;
}

}  // namespace

WiolaModel::WiolaModel(const WiolaConfig& config) : ConfiguredDecoder(config, wiola_spec(config)) {
  cfg_.resolve();
  for (int64_t i = 0; i < cfg_.n_layer; ++i) add_block(std::make_shared<WiolaLayer>(cfg_, i));
  // llama's init, keyed by name: N(0, 0.02), residual projections N(0, 0.02/√(2L)).
  init_nanogpt(cfg_.seed, cfg_.n_layer,
               {"attention.c_proj.weight", "feed_forward.w2.weight", "feed_forward.gelu_down.weight", "gcla.out.weight"});
}

std::vector<AtmStats> WiolaModel::atm_stats() const {
  std::vector<AtmStats> out;
  for (size_t l = 0; l < n_layers(); ++l) out.push_back(static_cast<const WiolaLayer&>(*block(l)).atm_stats());
  return out;
}

std::vector<std::pair<std::string, double>> WiolaModel::step_stats() const {
  if (!cfg_.atm) return {};
  AtmStats all;
  for (const AtmStats& s : atm_stats()) {
    all.pairs += s.pairs;
    all.merged += s.merged;
    all.entries_full += s.entries_full;
    all.entries_merged += s.entries_merged;
  }
  return {{"atm_merge_rate", all.merge_rate()}, {"atm_cost_saved", all.cost_saved()}};
}

// (v) WiolaRMSNorm's functional form (the layer is nn::RMSNorm with bias = offset_norm).
Var wiola_rms_norm(const Var& x, const Var& weight, const Var& offset, double eps) {
  const Var y = rms_norm(x, weight, eps);
  return offset.defined() ? y + offset : y;
}

namespace {
const ModelRegistrar registrar = ModelRegistrar::of<WiolaModel, WiolaConfig>(
    "wiola", "LLaMA + WiolaRMSNorm, DSFF, SRPE, GCLA, ATM, each a switch (all off = llama)");
}  // namespace

}  // namespace loupe::models
