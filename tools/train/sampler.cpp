#include "tools/train/sampler.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "tensor/rng.h"

namespace loupe::tools {

int32_t sample_token(const std::vector<double>& logits, double temperature, int64_t top_k, double u) {
  const int64_t V = int64_t(logits.size());
  LOUPE_CHECK(V > 0, "sample: empty logits");
  LOUPE_CHECK(temperature >= 0, "sample: temperature must be >= 0, got ", temperature);
  if (temperature == 0) return int32_t(std::max_element(logits.begin(), logits.end()) - logits.begin());
  // Candidates: the top k logits (ties by lower id), in descending order.
  std::vector<int32_t> idx(static_cast<size_t>(V));
  std::iota(idx.begin(), idx.end(), 0);
  const int64_t k = top_k > 0 ? std::min(top_k, V) : V;
  std::partial_sort(idx.begin(), idx.begin() + k, idx.end(), [&](int32_t a, int32_t b) {
    return logits[size_t(a)] != logits[size_t(b)] ? logits[size_t(a)] > logits[size_t(b)] : a < b;
  });
  // p_i ∝ exp((l_i − l_max) / T)
  const double mx = logits[size_t(idx[0])];
  std::vector<double> w(static_cast<size_t>(k));
  double total = 0;
  for (int64_t i = 0; i < k; ++i) total += w[size_t(i)] = std::exp((logits[size_t(idx[size_t(i)])] - mx) / temperature);
  double target = u * total, acc = 0;
  for (int64_t i = 0; i < k; ++i) {
    acc += w[size_t(i)];
    if (target < acc) return idx[size_t(i)];
  }
  return idx[size_t(k - 1)];
}

// Logits of the last position of a [1, t, V] output, in f64.
static std::vector<double> last_logits(const Var& out) {
  const Tensor& v = out.value();
  return v.select(0, 0).select(0, v.size(1) - 1).contiguous().to_vector();
}

static Tensor ids_tensor(const std::vector<int32_t>& ids, size_t from) {
  std::vector<int64_t> v(ids.begin() + int64_t(from), ids.end());
  return Tensor::from_ints(v, {1, int64_t(v.size())});
}

std::vector<int32_t> generate(models::LanguageModel& model, const std::vector<int32_t>& prompt,
                              const SampleOptions& opt, const std::function<void(int32_t)>& on_token) {
  LOUPE_CHECK(!prompt.empty(), "sample: the prompt must hold at least one token");
  for (int32_t id : prompt)
    LOUPE_CHECK(id >= 0 && id < model.vocab_size(), "sample: prompt token ", id, " outside the vocabulary of ",
                model.vocab_size());
  NoGrad ng;
  const bool was_training = model.is_training();
  model.eval();
  const int64_t block = model.block_size();
  std::vector<int32_t> all = prompt, out;
  // (Re)fills a cache with the last `keep` tokens and returns the logits after them.
  std::unique_ptr<models::DecodeCache> cache;
  auto prefill = [&](int64_t keep) {
    cache = model.make_cache(1, block);
    return last_logits(model.forward_cached(ids_tensor(all, all.size() - size_t(keep)), *cache));
  };
  const size_t limit = opt.vocab_limit > 0 ? size_t(opt.vocab_limit) : size_t(model.vocab_size());
  std::vector<double> logits = prefill(std::min<int64_t>(int64_t(all.size()), block));
  for (int64_t i = 0; i < opt.tokens; ++i) {
    if (logits.size() > limit) logits.resize(limit);  // ids from `limit` on are never drawn
    const int32_t next = sample_token(logits, opt.temperature, opt.top_k, philox_uniform(opt.seed, 0, uint64_t(i)));
    all.push_back(next);
    out.push_back(next);
    if (on_token) on_token(next);
    if (i + 1 == opt.tokens) break;
    if (cache->length() + 1 > block) logits = prefill(std::max<int64_t>(1, block / 2));
    else logits = last_logits(model.forward_cached(ids_tensor(all, all.size() - 1), *cache));
  }
  model.train(was_training);
  return out;
}

}  // namespace loupe::tools
