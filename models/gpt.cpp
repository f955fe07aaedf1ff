// GPT-2 as in nanoGPT: learned token and position embeddings, pre-LayerNorm blocks, causal
// self-attention, a GELU MLP 4x wide, a final LayerNorm and an LM head tied to the token
// embedding. Parameter names are nanoGPT's (transformer.wte.weight,
// transformer.h.0.attn.c_attn.weight, ...). Init as nanoGPT: N(0, 0.02) for every weight matrix
// and embedding, N(0, 0.02/√(2·n_layer)) for the residual projections (c_proj), zero biases.
//
//   x = Dropout(wte[ids] + wpe[0..T))                        the skeleton (models/decoder.cpp)
//   for each block:  x = x + Attn(ln_1(x))                   nn/attention.cpp
//                    x = x + MLP(ln_2(x))                    nn/mlp.cpp (PreNormBlock wires them)
//   logits = ln_f(x) · wteᵀ
#include "models/gpt.h"

#include "autograd/ops.h"
#include "nn/layernorm.h"

namespace loupe::models {

static std::shared_ptr<nn::CausalSelfAttention> gpt_attention(const GPTConfig& c) {
  nn::AttentionConfig ac;
  ac.n_embd = c.n_embd;
  ac.n_head = c.n_head;
  ac.bias = c.bias;
  ac.dropout = c.dropout;
  return std::make_shared<nn::CausalSelfAttention>(ac, c.dtype);
}

GPTBlock::GPTBlock(const GPTConfig& c, bool with_attention)
    : PreNormBlock({"ln_1", "attn", "ln_2", "mlp"},
                   std::make_shared<nn::LayerNorm>(c.n_embd, c.bias, c.norm_eps, c.dtype),
                   with_attention ? gpt_attention(c) : nullptr,
                   std::make_shared<nn::LayerNorm>(c.n_embd, c.bias, c.norm_eps, c.dtype),
                   std::make_shared<nn::MLP>(c.n_embd, 4 * c.n_embd, c.bias, c.dropout, c.activation == "gelu_tanh",
                                             c.dtype)) {}

const std::vector<std::string>& GPTBlock::residual_projections() {
  static const std::vector<std::string> r = {"c_proj.weight"};
  return r;
}

namespace {

struct GPT : StackedDecoder<GPTConfig, GPTBlock> {
  explicit GPT(const GPTConfig& c) : StackedDecoder(c, "gpt") {}
};

const ModelRegistrar registrar = ModelRegistrar::of<GPT, GPTConfig>(
    "gpt", "nanoGPT's GPT-2: learned positions, pre-LayerNorm, GELU MLP, tied head");

}  // namespace

// ------------------------------------------------------------------ the config: keys, checks, spec, parameter count
const ConfigKeys<GPTConfig>& GPTConfig::keys() {
  using C = GPTConfig;
  static const auto t = ConfigKeys<C>("gpt")
      .decoder_shape()
      .boolean("bias", &C::bias, "biases in Linears and LayerNorms")
      .boolean("tie_weights", &C::tie_weights, "the LM head shares the token embedding")
      .choice("activation", &C::activation, {"gelu", "gelu_tanh"}, "MLP activation: exact GELU or GPT-2's tanh form")
      .number("norm_eps", &C::norm_eps, 0, 1, "LayerNorm epsilon")
      .dropout_seed_dtype("dropout on embeddings, attention probabilities and residual branches");
  return t;
}

DecoderSpec GPTConfig::spec(const std::string& type) const {
  DecoderSpec s = shape_spec(type, Naming::NanoGPT);
  s.learned_positions = true;
  s.embed_dropout = dropout;
  s.tie_weights = tie_weights;
  s.norm = "layernorm";
  s.norm_bias = bias;
  s.norm_eps = norm_eps;
  return s;
}

double GPTConfig::block_parameters(bool with_attention) const {
  const double d = double(n_embd), b = bias ? 1 : 0;
  const double ln = d * (1 + b), mlp = 8 * d * d + b * 5 * d, attn = 4 * d * d + b * 4 * d;
  return ln + mlp + (with_attention ? ln + attn : 0);
}

double GPTConfig::count_parameters() const {
  return skeleton_parameters(spec("gpt")) + double(n_layer) * block_parameters(true);
}

}  // namespace loupe::models
