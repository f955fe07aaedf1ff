// The decoder skeleton every model is built on:
//
//   x = drop(wte[ids] (+ wpe[pos0 .. pos0+T)))         token embedding, learned positions if any
//   for each layer l:  x = block_l(x, {pos0, cache_l, history})
//   logits = norm_f(x) · wteᵀ      (tied)   or   lm_head(norm_f(x))   (untied)
//
// A model supplies its config, its DecoderBlock and its own ops; the skeleton owns the
// embedding, the layer list, the final norm, the head, the decode cache (one LayerCache per
// layer, made by the block: KV, running sums, or nothing) and nanoGPT's initialisation.
// Two naming schemes give state dicts that map one to one onto the reference code:
//   nanoGPT: transformer.{wte, wpe, drop, h.N, ln_f}, lm_head
//   Meta:    tok_embeddings, layers.N, norm, output
// A module added twice to the layer list is one module applied twice (shared weights; its
// parameters are named after the first place).
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "models/model.h"
#include "nn/attention.h"
#include "nn/dropout.h"
#include "nn/embedding.h"
#include "nn/feed_forward.h"
#include "nn/linear.h"
#include "nn/norm.h"

namespace loupe::models {
// The vocabulary size from which a decoder's training loss fuses its head (Decoder::loss).
inline constexpr int64_t kFusedHeadVocab = 4096;
}  // namespace loupe::models

namespace loupe::models {

// What a block sees besides its input.
struct BlockInput {
  int64_t layer = 0;                  // index in the layer list
  int64_t pos0 = 0;                   // position of the first token of x
  nn::LayerCache* cache = nullptr;    // this layer's decode state, or null (full forward)
  const std::vector<Var>* history = nullptr;  // inputs of layers 0..layer: [0] = the embeddings
};

class DecoderBlock : public nn::Module {
 public:
  virtual Var forward(const Var& x, const BlockInput& in) = 0;
  // This layer's decode state; null: it keeps none (e.g. an MLP-only block).
  virtual std::unique_ptr<nn::LayerCache> make_cache(int64_t batch, int64_t max_len, DType dtype) const {
    return nullptr;
  }
};

// The pre-norm transformer block of GPT and LLaMA (and ShishuLM's parents):
//   x = x + attn(norm_1(x));  x = x + ffn(norm_2(x))
// its four parts registered under the reference code's names; without attention it is the
// MLP-only block x = x + ffn(norm_2(x)).
struct BlockNames {
  const char *norm_1, *attn, *norm_2, *ffn;
};

class PreNormBlock : public DecoderBlock {
 public:
  PreNormBlock(const BlockNames& names, std::shared_ptr<nn::Norm> norm_1, std::shared_ptr<nn::CausalSelfAttention> attn,
               std::shared_ptr<nn::Norm> norm_2, std::shared_ptr<nn::FeedForward> ffn);
  Var forward(const Var& x, const BlockInput& in) override;
  std::unique_ptr<nn::LayerCache> make_cache(int64_t batch, int64_t max_len, DType dtype) const override;

  nn::Child<nn::Norm> norm_1, norm_2;
  nn::Child<nn::CausalSelfAttention> attn;  // absent in an MLP-only block
  nn::Child<nn::FeedForward> ffn;
};

enum class Naming { NanoGPT, Meta };

struct DecoderSpec {
  std::string type;  // the registry name, for errors
  Naming naming = Naming::NanoGPT;
  int64_t vocab_size = 0, block_size = 0, n_embd = 0;
  bool learned_positions = false;  // wpe (nanoGPT naming); decoding is then limited to block_size
  double embed_dropout = 0;        // transformer.drop after the embeddings (nanoGPT naming)
  bool tie_weights = true;
  std::string norm = "layernorm";  // the final norm's kind (nn/norm.h)
  bool norm_bias = false;          // LayerNorm's bias / RMSNorm's offset
  double norm_eps = 1e-5;
  DType dtype = DType::F32;
};

// The keys every decoder config shares, declared once (ConfigKeys::decoder_shape() and
// dropout_seed_dtype() read them). A model's config derives from it; a model whose defaults
// differ sets them in its config's constructor.
struct DecoderShape {
  int64_t vocab_size = 0;  // required (the trainer fills it in from the tokenizer)
  int64_t block_size = 64, n_layer = 4, n_head = 4, n_embd = 128;
  double dropout = 0.0;
  uint64_t seed = 1337;  // initial weights
  DType dtype = DType::F32;
  // The skeleton's part of a spec: type, naming, vocab_size, block_size, n_embd, dtype.
  DecoderSpec shape_spec(const std::string& type, Naming naming) const;
  // The checks every decoder needs: vocab_size given; `heads_split_width`: n_embd a multiple of n_head.
  void check_shape(const std::string& model, bool heads_split_width) const;
};

struct DecoderCache : DecodeCache {
  std::vector<std::unique_ptr<nn::LayerCache>> layers;  // null where a layer keeps nothing
  const void* owner = nullptr;                           // the model that made it
  int64_t batch = 0, max_len = 0, len = 0;
  int64_t bytes() const override;
  int64_t length() const override { return len; }
};

class Decoder : public LanguageModel {
 public:
  Var forward(const Tensor& ids) override { return head(trunk(ids, nullptr)); }
  // With a vocabulary of kFusedHeadVocab tokens or more (and the plain head), the final norm's
  // output goes into linear_cross_entropy with the head's weight (tied: wte): the [B·T, V] logits
  // and their gradient are made a chunk of rows at a time (tensor/kernels/linear_cross_entropy.h).
  // Smaller vocabularies, whose logits are small, keep forward + cross_entropy.
  Var loss(const Tensor& ids, const Tensor& targets) override;
  std::unique_ptr<DecodeCache> make_cache(int64_t batch, int64_t max_len) const override;
  Var forward_cached(const Tensor& ids, DecodeCache& cache) override;
  int64_t vocab_size() const override { return spec_.vocab_size; }
  int64_t block_size() const override { return spec_.block_size; }
  const DecoderSpec& spec() const { return spec_; }
  size_t n_layers() const { return blocks_->size(); }
  const nn::Child<DecoderBlock>& block(size_t l) const { return (*blocks_)[l]; }

 protected:
  explicit Decoder(const DecoderSpec& spec);
  nn::Child<DecoderBlock> add_block(std::shared_ptr<DecoderBlock> b) { return blocks_->push_back(std::move(b)); }
  // nanoGPT's initialisation: every parameter of dim >= 2 ~ N(0, 0.02), the residual projections
  // (names ending in one of `residual`) ~ N(0, 0.02 / √(2·n_layer)). Each tensor's stream is
  // param_seed(seed, name), or, with by_order, seed + its index among the initialised ones.
  void init_nanogpt(uint64_t seed, int64_t n_layer, const std::vector<std::string>& residual, bool by_order = false);

  // Where the skeleton's parts live: `transformer` (nanoGPT naming) or the model itself (Meta).
  nn::Module& container() { return transformer_ ? static_cast<nn::Module&>(*transformer_) : *this; }

  // Hooks (defaults: the equations above).
  virtual Var embed(const Tensor& ids, int64_t pos0);
  virtual Var before_layer(const Var& x, int64_t layer) { return x; }
  virtual Var head(const Var& x);  // final norm, then the tied or untied projection
  // Whether loss() may fuse the head: a model whose head() adds more than the projection says no.
  virtual bool fused_head() const { return spec_.vocab_size >= kFusedHeadVocab; }

  nn::Child<nn::Embedding> wte, wpe;  // wpe only with learned positions
  nn::Child<nn::Dropout> drop;        // nanoGPT naming only
  nn::Child<nn::Norm> norm_f;
  nn::Child<nn::Linear> lm_head;      // only when untied

 private:
  Var trunk(const Tensor& ids, DecoderCache* cache);  // embedding and blocks: the input of head()
  DecoderSpec spec_;
  nn::Child<nn::ModuleDict> transformer_;  // nanoGPT naming: the container of wte, wpe, drop, h, ln_f
  nn::Child<nn::ModuleList<DecoderBlock>> blocks_;
};

// A Decoder that keeps its config struct (vocab_size etc. come from the spec it derives).
template <class Cfg>
class ConfiguredDecoder : public Decoder {
 public:
  ConfiguredDecoder(const Cfg& c, const DecoderSpec& s) : Decoder(s), cfg_(c) {}
  nlohmann::json config() const override { return cfg_.to_json(); }
  const Cfg& cfg() const { return cfg_; }

 protected:
  Cfg cfg_;
};

// A plain stack of n_layer identical blocks with nanoGPT's init: GPT and LLaMA are exactly this.
// Cfg has seed, n_layer and spec(type); Block(cfg) and Block::residual_projections().
template <class Cfg, class Block>
class StackedDecoder : public ConfiguredDecoder<Cfg> {
 public:
  StackedDecoder(const Cfg& c, const std::string& type) : ConfiguredDecoder<Cfg>(c, c.spec(type)) {
    for (int64_t i = 0; i < c.n_layer; ++i) this->add_block(std::make_shared<Block>(c));
    this->init_nanogpt(c.seed, c.n_layer, Block::residual_projections());
  }
};

// Parameters of the skeleton's own parts for a spec (embeddings, final norm, untied head).
double skeleton_parameters(const DecoderSpec& s);

}  // namespace loupe::models
