// Text generation through a model's KV cache (forward_cached): the prompt is
// prefilled in one call, then one token per call. Sampling draws from
// softmax(logits / temperature) restricted to the top k logits, using the
// counter-based RNG keyed by (seed, token index), so a seed always gives the same text.
// When the cache reaches the model's context (block_size), it is rebuilt from the
// last block_size/2 tokens (a sliding window that re-prefills every block_size/2 tokens).
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

#include "models/model.h"

namespace loupe::tools {

struct SampleOptions {
  int64_t tokens = 200;       // new tokens to generate
  double temperature = 1.0;   // 0: greedy (argmax)
  int64_t top_k = 0;          // 0: all tokens
  uint64_t seed = 1337;
  // Only ids below this are drawn (0: the model's whole vocabulary). A model's vocabulary may be
  // padded past its tokenizer's (GPT-2's 50,257 to 50,304): those ids decode to nothing.
  int64_t vocab_limit = 0;
};

// Picks a token from one row of logits; u is a uniform [0, 1) draw.
int32_t sample_token(const std::vector<double>& logits, double temperature, int64_t top_k, double u);

// Returns the new tokens; on_token (optional) is called with each as soon as it is drawn.
std::vector<int32_t> generate(models::LanguageModel& model, const std::vector<int32_t>& prompt,
                              const SampleOptions& opt, const std::function<void(int32_t)>& on_token = {});

}  // namespace loupe::tools
