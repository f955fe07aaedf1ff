// GPT-2 as in nanoGPT (Karpathy, model.py): learned token and position
// embeddings, pre-LayerNorm blocks, causal self-attention, a GELU MLP 4x wide,
// a final LayerNorm and an LM head tied to the token embedding.
//
//   x = Dropout(wte[ids] + wpe[0..T))
//   for each block:  x = x + Attn(LN_1(x));  x = x + MLP(LN_2(x))
//   logits = LN_f(x) · wteᵀ
//
// Parameter names are nanoGPT's (transformer.wte.weight, transformer.h.0.attn.c_attn.weight,
// ...), so state dicts map one to one. Init as nanoGPT: N(0, 0.02) for every weight matrix and
// embedding, N(0, 0.02/√(2·n_layer)) for the residual projections (c_proj), zero biases.
#include <cmath>

#include "autograd/ops.h"
#include "models/config_reader.h"
#include "models/kv_cache.h"
#include "nn/attention.h"
#include "nn/embedding.h"
#include "nn/init.h"
#include "nn/layernorm.h"
#include "nn/linear.h"
#include "nn/mlp.h"

namespace loupe::models {
namespace {

struct GPTConfig {
  int64_t vocab_size = 0;  // required (the trainer fills it in from the tokenizer)
  int64_t block_size = 64, n_layer = 4, n_head = 4, n_embd = 128;
  double dropout = 0.0;
  bool bias = false;         // biases in Linears and LayerNorms
  bool tie_weights = true;   // lm_head shares the token embedding
  bool tanh_gelu = false;    // GPT-2's tanh GELU instead of nanoGPT's exact one
  double ln_eps = 1e-5;
  uint64_t seed = 1337;      // initial weights and dropout streams
  DType dtype = DType::F32;

  static GPTConfig from_json(const nlohmann::json& j) {
    ConfigReader r(j, "gpt");
    GPTConfig c;
    c.vocab_size = r.integer("vocab_size", 0, 1);
    LOUPE_CHECK(c.vocab_size > 0, "gpt config: \"vocab_size\" is required");
    c.block_size = r.integer("block_size", c.block_size, 1);
    c.n_layer = r.integer("n_layer", c.n_layer, 1);
    c.n_head = r.integer("n_head", c.n_head, 1);
    c.n_embd = r.integer("n_embd", c.n_embd, 1);
    c.dropout = r.number("dropout", c.dropout, 0.0, 0.99);
    c.bias = r.boolean("bias", c.bias);
    c.tie_weights = r.boolean("tie_weights", c.tie_weights);
    c.tanh_gelu = r.choice("activation", "gelu", {"gelu", "gelu_tanh"}) == "gelu_tanh";
    c.ln_eps = r.number("ln_eps", c.ln_eps, 0.0, 1.0);
    c.seed = uint64_t(r.integer("seed", int64_t(c.seed), 0));
    c.dtype = r.choice("dtype", "f32", {"f32", "f64"}) == "f64" ? DType::F64 : DType::F32;
    r.finish();
    LOUPE_CHECK(c.n_embd % c.n_head == 0, "gpt config: n_embd ", c.n_embd, " must be a multiple of n_head ", c.n_head);
    return c;
  }
  nlohmann::json to_json() const {
    return {{"type", "gpt"},          {"vocab_size", vocab_size}, {"block_size", block_size},
            {"n_layer", n_layer},     {"n_head", n_head},         {"n_embd", n_embd},
            {"dropout", dropout},     {"bias", bias},             {"tie_weights", tie_weights},
            {"activation", tanh_gelu ? "gelu_tanh" : "gelu"},     {"ln_eps", ln_eps},
            {"seed", seed},           {"dtype", dtype == DType::F64 ? "f64" : "f32"}};
  }
};

// x = x + Attn(LN_1(x));  x = x + MLP(LN_2(x))
class Block : public nn::Module {
 public:
  Block(const GPTConfig& c, int64_t layer) {
    const uint64_t seed = nn::param_seed(c.seed, "h." + std::to_string(layer));
    nn::AttentionConfig ac;
    ac.n_embd = c.n_embd, ac.n_head = c.n_head, ac.bias = c.bias, ac.dropout = c.dropout, ac.seed = seed;
    ln_1 = register_module("ln_1", std::make_shared<nn::LayerNorm>(c.n_embd, c.bias, c.ln_eps, c.dtype));
    attn = register_module("attn", std::make_shared<nn::CausalSelfAttention>(ac, c.dtype));
    ln_2 = register_module("ln_2", std::make_shared<nn::LayerNorm>(c.n_embd, c.bias, c.ln_eps, c.dtype));
    mlp = register_module("mlp", std::make_shared<nn::MLP>(c.n_embd, 4 * c.n_embd, c.bias, c.dropout, seed,
                                                           c.tanh_gelu, c.dtype));
  }
  Var forward(Var x, nn::KVCache* cache) {
    x = x + attn->forward(ln_1->forward(x), cache);
    x = x + mlp->forward(ln_2->forward(x));
    return x;
  }
  std::shared_ptr<nn::LayerNorm> ln_1, ln_2;
  std::shared_ptr<nn::CausalSelfAttention> attn;
  std::shared_ptr<nn::MLP> mlp;
};

// nanoGPT's `transformer` ModuleDict: wte, wpe, drop, h, ln_f.
struct Transformer : nn::Module {
  template <class M>
  std::shared_ptr<M> register_child(const std::string& name, std::shared_ptr<M> m) {
    return register_module(name, std::move(m));
  }
  std::shared_ptr<nn::Embedding> wte, wpe;
  std::shared_ptr<nn::Dropout> drop;
  std::shared_ptr<nn::ModuleList<Block>> h;
  std::shared_ptr<nn::LayerNorm> ln_f;
};

class GPT : public ConfiguredModel<GPTConfig> {
 public:
  explicit GPT(const GPTConfig& c) : ConfiguredModel(c) {
    transformer = register_module("transformer", std::make_shared<Transformer>());
    auto& t = *transformer;
    t.wte = t.register_child("wte", std::make_shared<nn::Embedding>(c.vocab_size, c.n_embd, c.dtype));
    t.wpe = t.register_child("wpe", std::make_shared<nn::Embedding>(c.block_size, c.n_embd, c.dtype));
    t.drop = t.register_child("drop", std::make_shared<nn::Dropout>(c.dropout, nn::param_seed(c.seed, "drop")));
    t.h = t.register_child("h", std::make_shared<nn::ModuleList<Block>>());
    for (int64_t i = 0; i < c.n_layer; ++i) t.h->push_back(std::make_shared<Block>(c, i));
    t.ln_f = t.register_child("ln_f", std::make_shared<nn::LayerNorm>(c.n_embd, c.bias, c.ln_eps, c.dtype));
    if (!c.tie_weights)
      lm_head = register_module("lm_head", std::make_shared<nn::Linear>(c.n_embd, c.vocab_size, false, c.dtype));
    // nanoGPT init: N(0, 0.02) for every matrix, N(0, 0.02/√(2L)) for residual projections.
    for (auto& [name, p] : named_parameters()) {
      if (p.dim() < 2) continue;  // LayerNorm weights stay 1, biases 0
      const bool residual = name.ends_with("c_proj.weight");
      nn::init_normal_(p, residual ? 0.02 / std::sqrt(2.0 * double(c.n_layer)) : 0.02, c.seed, name);
    }
  }

  Var forward(const Tensor& ids) override { return run(ids, nullptr); }

  std::unique_ptr<DecodeCache> make_cache(int64_t batch, int64_t max_len) const override {
    LOUPE_CHECK(max_len >= 1 && max_len <= cfg_.block_size, "gpt: cache length ", max_len,
                " must be in [1, block_size ", cfg_.block_size, "] (learned positions)");
    auto cache = std::make_unique<TransformerCache>();
    for (auto& b : *transformer->h) cache->layers.push_back(b->attn->make_cache(batch, max_len, cfg_.dtype));
    return cache;
  }
  Var forward_cached(const Tensor& ids, DecodeCache& cache) override {
    return run(ids, &as_transformer_cache(cache, transformer->h->size(), "gpt"));
  }

 private:
  Var run(const Tensor& ids, TransformerCache* cache) {
    LOUPE_CHECK(ids.dtype() == DType::I64 && ids.dim() == 2, "gpt: ids must be i64 [B, T], got ", ids.str());
    const int64_t T = ids.size(1), pos0 = cache ? cache->length() : 0;
    LOUPE_CHECK(pos0 + T <= cfg_.block_size, "gpt: sequence of ", pos0 + T, " tokens exceeds block_size ",
                cfg_.block_size);
    auto& t = *transformer;
    Var x = t.wte->forward(ids) + narrow(t.wpe->weight, 0, pos0, T);  // [B, T, C] + [T, C]
    x = t.drop->forward(x);
    for (size_t l = 0; l < t.h->size(); ++l) x = (*t.h)[l].forward(x, cache ? &cache->layers[l] : nullptr);
    x = t.ln_f->forward(x);
    return lm_head ? lm_head->forward(x) : matmul(x, transpose(t.wte->weight, 0, 1));  // tied head
  }

  std::shared_ptr<Transformer> transformer;
  std::shared_ptr<nn::Linear> lm_head;  // only when untied
};

static ModelRegistrar registrar("gpt", [](const nlohmann::json& j) {
  return std::make_shared<GPT>(GPTConfig::from_json(j));
});

}  // namespace
}  // namespace loupe::models
