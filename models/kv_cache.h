// The decode cache of a decoder-only transformer: one KV cache per layer.
#pragma once
#include <vector>

#include "models/model.h"
#include "nn/attention.h"

namespace loupe::models {

struct TransformerCache : DecodeCache {
  std::vector<nn::KVCache> layers;
  int64_t bytes() const override {
    int64_t n = 0;
    for (auto& l : layers) n += (l.k.numel() + l.v.numel()) * int64_t(dtype_size(l.k.dtype()));
    return n;
  }
  int64_t length() const override { return layers.empty() ? 0 : layers[0].len; }
};

// The cache as a TransformerCache with `n_layer` layers, or an Error naming `model`.
inline TransformerCache& as_transformer_cache(DecodeCache& c, size_t n_layer, const char* model) {
  auto* tc = dynamic_cast<TransformerCache*>(&c);
  LOUPE_CHECK(tc && tc->layers.size() == n_layer, model, ": forward_cached got a cache made by another model");
  return *tc;
}

}  // namespace loupe::models
