// loupe bench generate: incremental decoding speed of a model through its KV cache.
// A prompt of --context random tokens is prefilled in one forward_cached call, then
// --tokens tokens are generated greedily one step at a time (batch --batch); each step
// is timed. Reports per-token latency (median, p90), generated tokens/s, the decode
// cache's bytes and the process's peak resident memory.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "autograd/ops.h"
#include "models/model.h"
#include "tensor/parallel.h"
#include "tools/train/checkpoint.h"
#include "tools/cli/commands.h"
#include "tools/train/run_config.h"
#include "tools/train/generate_bench.h"
#include "tools/train/run_data.h"

namespace loupe::cli {

using tools::GenerateBenchResult, tools::bench_generate;

// A model with random weights from a run config; vocab_size, when absent, comes from its tokenizer.
static std::shared_ptr<models::LanguageModel> model_from_config_file(const std::string& path) {
  const tools::RunConfig cfg = tools::load_run_config(path);
  nlohmann::json mcfg = cfg.model;
  if (!mcfg.contains("vocab_size")) mcfg["vocab_size"] = tools::open_data(cfg.data).tokenizer->vocab_size();
  return models::build_model(mcfg);
}

struct BenchGenerateArgs {
  std::string ckpt, config;
  int64_t batch = 1, context = -1, tokens = -1;
  int threads = 0;  // 0: the OpenMP default
  uint64_t seed = 1;
  bool json = false;
};

static void run_bench_generate(BenchGenerateArgs& o) {
  LOUPE_CHECK(!o.ckpt.empty() || !o.config.empty(),
              "bench generate: give --ckpt DIR or --config FILE");
  if (o.threads > 0) set_num_threads(o.threads);
  auto model = o.ckpt.empty() ? model_from_config_file(o.config) : tools::model_from_checkpoint(tools::load_checkpoint(o.ckpt));
  const int64_t ctx = o.context > 0 ? o.context : std::max<int64_t>(1, model->block_size() / 2);
  const int64_t n = o.tokens > 0 ? o.tokens : model->block_size() - ctx;
  const GenerateBenchResult r = bench_generate(*model, o.batch, ctx, n, o.seed);
  nlohmann::json j = r.to_json();
  j["model"] = model->config();
  j["params"] = model->num_parameters();
  j["threads"] = get_num_threads();
  if (o.json) {
    std::printf("%s\n", j.dump().c_str());
    return;
  }
  std::printf("model %s, %lld params; batch %lld, context %lld, %lld tokens generated\n",
              model->config().value("type", "?").c_str(), (long long)model->num_parameters(),
              (long long)r.batch, (long long)r.context, (long long)r.tokens);
  std::printf("prefill        %10.3f ms\n", 1e3 * r.prefill_s);
  std::printf("latency/token  %10.3f ms median, %.3f ms p90\n", r.latency_median_ms,
              r.latency_p90_ms);
  std::printf("throughput     %10.1f generated tokens/s\n", r.tokens_per_s);
  std::printf("KV cache       %10.1f KiB\n", double(r.cache_bytes) / 1024.0);
  std::printf("peak RSS       %10.1f MiB\n", double(r.peak_rss_bytes) / (1024.0 * 1024.0));
}

void register_bench_generate(CLI::App& bench) {
  auto* sub = bench.add_subcommand("generate", "per-token generation latency, tokens/s and KV-cache memory");
  auto o = std::make_shared<BenchGenerateArgs>();
  auto* src = sub->add_option("--ckpt", o->ckpt, "checkpoint directory (trained weights)");
  sub->add_option("--config", o->config, "JSON config (random weights)")->excludes(src);
  sub->add_option("--batch", o->batch, "sequences decoded together")->check(CLI::PositiveNumber);
  sub->add_option("--context", o->context, "prompt tokens prefilled before timing (default: block_size / 2)");
  sub->add_option("--tokens", o->tokens, "tokens generated and timed (default: block_size - context)");
  sub->add_option("--seed", o->seed, "prompt seed");
  sub->add_option("--threads", o->threads, "OpenMP threads (default: all)")->check(CLI::NonNegativeNumber);
  sub->add_flag("--json", o->json, "print one JSON object");
  actions().push_back({sub, [o] { run_bench_generate(*o); }});
}

}  // namespace loupe::cli
