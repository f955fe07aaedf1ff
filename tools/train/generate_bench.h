// Decode speed through a model's KV cache: what `loupe bench generate` prints and `loupe compare`
// reports per config (batch 1).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "models/model.h"

namespace loupe::tools {

struct GenerateBenchResult {
  int64_t batch = 0, context = 0, tokens = 0;
  double prefill_s = 0;
  std::vector<double> step_s;  // wall time of each one-token decode step
  double latency_median_ms = 0, latency_p90_ms = 0;
  double tokens_per_s = 0;  // batch · tokens / total decode time
  int64_t cache_bytes = 0;
  int64_t peak_rss_bytes = 0;  // of the whole process so far
  nlohmann::json to_json() const;
};

// Prefills `context` random tokens, then generates `tokens` greedy tokens one step at a time.
GenerateBenchResult bench_generate(models::LanguageModel& model, int64_t batch, int64_t context, int64_t tokens,
                                   uint64_t seed = 1);
}  // namespace loupe::tools
