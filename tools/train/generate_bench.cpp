#include "tools/train/generate_bench.h"

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>

#include "autograd/ops.h"

namespace loupe::tools {

static int64_t peak_rss_bytes() {
  struct rusage ru {};
  getrusage(RUSAGE_SELF, &ru);
  return int64_t(ru.ru_maxrss) * 1024;  // Linux reports kilobytes
}

// Nearest-rank percentile: the smallest value with at least p of the values at or below it.
static double percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  const double rank = std::max(1.0, std::ceil(p * double(v.size())));
  return v[size_t(rank) - 1];
}

GenerateBenchResult bench_generate(models::LanguageModel& model, int64_t batch, int64_t context, int64_t tokens,
                                   uint64_t seed) {
  LOUPE_CHECK(batch > 0 && context > 0 && tokens > 0, "bench generate: batch, context and tokens must be positive");
  LOUPE_CHECK(context + tokens <= model.block_size(), "bench generate: context ", context, " + tokens ", tokens,
              " exceeds the model's block_size ", model.block_size());
  using clock = std::chrono::steady_clock;
  NoGrad ng;
  model.eval();
  // A random prompt (ids uniform over the vocabulary, from the counter-based RNG).
  const Tensor u = Tensor::uniform({batch, context}, 0, double(model.vocab_size()), seed, DType::F64);
  std::vector<int64_t> prompt;
  for (double x : u.to_vector()) prompt.push_back(std::min<int64_t>(model.vocab_size() - 1, int64_t(x)));
  auto cache = model.make_cache(batch, context + tokens);

  GenerateBenchResult r;
  r.batch = batch;
  r.context = context;
  r.tokens = tokens;
  auto t0 = clock::now();
  Tensor logits = model.forward_cached(Tensor::from_ints(prompt, {batch, context}), *cache).value();
  r.prefill_s = std::chrono::duration<double>(clock::now() - t0).count();
  for (int64_t s = 0; s < tokens; ++s) {
    // Greedy next token from the last position's logits.
    const Tensor next = argmax(logits.select(1, logits.size(1) - 1), -1, /*keepdim=*/true);  // [B, 1]
    t0 = clock::now();
    logits = model.forward_cached(next, *cache).value();
    r.step_s.push_back(std::chrono::duration<double>(clock::now() - t0).count());
  }
  double total = 0;
  for (double t : r.step_s) total += t;
  r.latency_median_ms = 1e3 * percentile(r.step_s, 0.5);
  r.latency_p90_ms = 1e3 * percentile(r.step_s, 0.9);
  r.tokens_per_s = double(batch * tokens) / total;
  r.cache_bytes = cache->bytes();
  r.peak_rss_bytes = peak_rss_bytes();
  return r;
}

nlohmann::json GenerateBenchResult::to_json() const {
  return {{"batch", batch},
          {"context", context},
          {"tokens", tokens},
          {"prefill_ms", 1e3 * prefill_s},
          {"latency_median_ms", latency_median_ms},
          {"latency_p90_ms", latency_p90_ms},
          {"tokens_per_s", tokens_per_s},
          {"kv_cache_bytes", cache_bytes},
          {"peak_rss_bytes", peak_rss_bytes}};
}

}  // namespace loupe::tools
