// `loupe compare`'s report: per-run results -> per-config statistics, compare.md, curves.svg
// and compare.json. (The runs are planned in compare_plan.h and trained in compare_runs.h.)
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace loupe::tools {

// One trained config × seed, as DIR/runs/<config>/seed<k>/result.json holds it.
struct CompareRun {
  int seed_index = 0;
  uint64_t seed = 0;
  double val_loss = 0;          // whole validation split
  int64_t val_tokens = 0;       // tokens it averages
  double tokens_per_sec = 0;    // training steps (median of the logged steps)
  int64_t peak_rss_bytes = 0;   // of the training process
  double wall_seconds = 0;      // of the training process (this and earlier, interrupted runs)
  std::string machine;          // CPU and threads it trained on ("" in reports older than this field)
  std::vector<std::pair<int64_t, double>> curve;  // (tokens seen, sampled val loss) at each evaluation
  nlohmann::json to_json() const;
  static CompareRun from_json(const nlohmann::json& j);
};

// One config with every seed's run.
struct CompareConfig {
  std::string name, path;       // short name (the file's stem) and the config file
  nlohmann::json run_config;    // seed 0's run config (seed k adds k to train.seed); null in older reports
  int64_t parameters = 0, steps = 0, tokens_per_step = 0;
  int64_t kv_cache_bytes = 0;   // batch 1, the whole block_size context
  double gen_ms_per_token = 0;  // median one-token decode step, batch 1
  std::vector<CompareRun> runs;
};

struct CompareReport {
  std::string command;   // the exact command line
  std::string budget;    // e.g. "500 steps per run", "2,000,000 tokens per run"
  std::string machine;   // CPU and threads of this invocation (a run reused from another report keeps its own)
  std::vector<CompareConfig> configs;
};

// Sample mean and standard deviation (n − 1; 0 for a single value).
std::pair<double, double> mean_sd(const std::vector<double>& v);

std::string compare_markdown(const CompareReport& r);
std::string compare_svg(const CompareReport& r);  // val loss against tokens seen: seed mean, min and max
nlohmann::json compare_json(const CompareReport& r);

}  // namespace loupe::tools
