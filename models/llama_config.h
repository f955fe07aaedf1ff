// The LLaMA-style baseline's config keys, shared by models/llama.cpp and the models
// that extend it (models/wiola.h), so each key is read, checked and written in one place.
#pragma once
#include <string>

#include <nlohmann/json.hpp>

#include "models/config_reader.h"
#include "nn/swiglu.h"
#include "tensor/dtype.h"

namespace loupe::models {

struct LlamaConfig {
  int64_t vocab_size = 0;  // required (the trainer fills it in from the tokenizer)
  int64_t block_size = 64, n_layer = 4, n_head = 4, n_embd = 128;
  int64_t n_kv_head = 0;    // 0: = n_head; fewer: grouped-query attention
  int64_t ffn_hidden = 0;   // 0: 2/3·4·n_embd rounded up to a multiple of multiple_of
  int64_t multiple_of = 32;
  double norm_eps = 1e-5, rope_base = 10000.0, dropout = 0.0;
  bool tie_weights = false;
  uint64_t seed = 1337;
  DType dtype = DType::F32;

  // Reads the baseline's keys; the caller reads its own keys and calls r.finish().
  void read_keys(ConfigReader& r, const std::string& model) {
    vocab_size = r.integer("vocab_size", 0, 1);
    LOUPE_CHECK(vocab_size > 0, model, " config: \"vocab_size\" is required");
    block_size = r.integer("block_size", block_size, 1);
    n_layer = r.integer("n_layer", n_layer, 1);
    n_head = r.integer("n_head", n_head, 1);
    n_embd = r.integer("n_embd", n_embd, 1);
    n_kv_head = r.integer("n_kv_head", n_kv_head, 0);
    multiple_of = r.integer("multiple_of", multiple_of, 1);
    ffn_hidden = r.integer("ffn_hidden", ffn_hidden, 0);
    norm_eps = r.number("norm_eps", norm_eps, 0.0, 1.0);
    rope_base = r.number("rope_base", rope_base, 1.0, 1e12);
    dropout = r.number("dropout", dropout, 0.0, 0.99);
    tie_weights = r.boolean("tie_weights", tie_weights);
    seed = uint64_t(r.integer("seed", int64_t(seed), 0));
    dtype = r.choice("dtype", "f32", {"f32", "f64"}) == "f64" ? DType::F64 : DType::F32;
  }

  // Fills the derived defaults (0 above) and checks the head layout.
  void resolve_keys(const std::string& model) {
    if (n_kv_head == 0) n_kv_head = n_head;
    if (ffn_hidden == 0) ffn_hidden = nn::swiglu_hidden(n_embd, multiple_of);
    LOUPE_CHECK(n_embd % n_head == 0 && (n_embd / n_head) % 2 == 0, model, " config: n_embd ", n_embd,
                " must be n_head ", n_head, " times an even head size (RoPE rotates pairs)");
    LOUPE_CHECK(n_head % n_kv_head == 0, model, " config: n_head ", n_head, " must be a multiple of n_kv_head ",
                n_kv_head);
  }

  nlohmann::json keys_json(const std::string& type) const {
    return {{"type", type},           {"vocab_size", vocab_size}, {"block_size", block_size},
            {"n_layer", n_layer},     {"n_head", n_head},         {"n_kv_head", n_kv_head},
            {"n_embd", n_embd},       {"ffn_hidden", ffn_hidden}, {"multiple_of", multiple_of},
            {"norm_eps", norm_eps},   {"rope_base", rope_base},   {"dropout", dropout},
            {"tie_weights", tie_weights}, {"seed", seed},         {"dtype", dtype == DType::F64 ? "f64" : "f32"}};
  }

  static LlamaConfig from_json(const nlohmann::json& j) {
    ConfigReader r(j, "llama");
    LlamaConfig c;
    c.read_keys(r, "llama");
    r.finish();
    c.resolve_keys("llama");
    return c;
  }
  nlohmann::json to_json() const { return keys_json("llama"); }
};

}  // namespace loupe::models
