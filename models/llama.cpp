// LLaMA-style: no absolute positions (RoPE rotates q and k, interleaved pairs), RMSNorm before
// each sublayer, a SwiGLU feed-forward, no biases, optional grouped-query attention. Names follow
// Meta's reference code (layers.0.attention_norm.weight, layers.0.feed_forward.w1.weight, ...),
// except that q, k, v come from one fused projection attention.c_attn (rows [q | k | v]).
// Init as nanoGPT: N(0, 0.02), residual projections N(0, 0.02/√(2·n_layer)).
//
//   x = tok_embeddings[ids]                                   the skeleton (models/decoder.cpp)
//   for each layer:  x = x + Attn(attention_norm(x))          nn/attention.cpp (RoPE on q, k)
//                    x = x + SwiGLU(ffn_norm(x))              nn/swiglu.cpp (PreNormBlock wires them)
//   logits = norm(x) · outputᵀ
#include "models/llama.h"

#include "autograd/ops.h"
#include "nn/rmsnorm.h"

namespace loupe::models {

nn::AttentionConfig LlamaBlock::attention_config(const LlamaConfig& c) {
  nn::AttentionConfig ac;
  ac.n_embd = c.n_embd;
  ac.n_head = c.n_head;
  ac.n_kv_head = c.n_kv_head;
  ac.bias = false;
  ac.dropout = c.dropout;
  ac.rope = true;
  ac.rope_base = c.rope_base;
  return ac;
}

LlamaBlock::LlamaBlock(const LlamaConfig& c, bool with_attention)
    : PreNormBlock({"attention_norm", "attention", "ffn_norm", "feed_forward"},
                   std::make_shared<nn::RMSNorm>(c.n_embd, c.norm_eps, c.dtype),
                   with_attention ? std::make_shared<nn::CausalSelfAttention>(attention_config(c), c.dtype) : nullptr,
                   std::make_shared<nn::RMSNorm>(c.n_embd, c.norm_eps, c.dtype),
                   std::make_shared<nn::SwiGLU>(c.n_embd, c.ffn_hidden, c.dropout, c.dtype)) {}

const std::vector<std::string>& LlamaBlock::residual_projections() {
  static const std::vector<std::string> r = {"attention.c_proj.weight", "feed_forward.w2.weight"};
  return r;
}

namespace {

struct Llama : StackedDecoder<LlamaConfig, LlamaBlock> {
  explicit Llama(const LlamaConfig& c) : StackedDecoder(c, "llama") {}
};

const ModelRegistrar registrar = ModelRegistrar::of<Llama, LlamaConfig>(
    "llama", "RMSNorm, RoPE (interleaved pairs), SwiGLU, optional grouped-query heads");

}  // namespace

// ------------------------------------------------------------------ the config: keys, checks, spec, parameter count
const ConfigKeys<LlamaConfig>& LlamaConfig::keys() {
  using C = LlamaConfig;
  static const auto t = ConfigKeys<C>("llama")
      .decoder_shape()
      .integer("n_kv_head", &C::n_kv_head, 0, "key/value heads; 0: n_head, fewer: grouped-query attention", 4096)
      .integer("ffn_hidden", &C::ffn_hidden, 0, "SwiGLU width; 0: 2/3·4·n_embd rounded up to multiple_of", int64_t(1) << 20)
      .integer("multiple_of", &C::multiple_of, 1, "rounding of the default SwiGLU width", int64_t(1) << 16)
      .number("norm_eps", &C::norm_eps, 0, 1, "RMSNorm epsilon")
      .number("rope_base", &C::rope_base, 1, 1e12, "RoPE frequency base θ")
      .boolean("tie_weights", &C::tie_weights, "the output head shares the token embedding")
      .dropout_seed_dtype("dropout on attention probabilities and residual branches");
  return t;
}

void LlamaConfig::resolve(const std::string& model) {
  check_shape(model, false);  // the head layout is checked below, with RoPE's even head size
  if (n_kv_head == 0) n_kv_head = n_head;
  if (ffn_hidden == 0) ffn_hidden = nn::swiglu_hidden(n_embd, multiple_of);
  LOUPE_CHECK(n_embd % n_head == 0 && (n_embd / n_head) % 2 == 0, model, " config: n_embd ", n_embd,
              " must be n_head ", n_head, " times an even head size (RoPE rotates pairs)");
  LOUPE_CHECK(n_head % n_kv_head == 0, model, " config: n_head ", n_head, " must be a multiple of n_kv_head ",
              n_kv_head);
}

DecoderSpec LlamaConfig::spec(const std::string& type) const {
  DecoderSpec s = shape_spec(type, Naming::Meta);
  s.tie_weights = tie_weights;
  s.norm = "rmsnorm";
  s.norm_eps = norm_eps;
  return s;
}

double LlamaConfig::block_parameters(bool with_attention) const {
  const double d = double(n_embd), kv = double(n_kv_head * (n_embd / n_head));
  const double attn = d * (d + 2 * kv) + d * d;
  return d + 3 * d * double(ffn_hidden) + (with_attention ? d + attn : 0);
}

double LlamaConfig::count_parameters() const {
  return skeleton_parameters(spec("llama")) + double(n_layer) * block_parameters(true);
}

}  // namespace loupe::models
