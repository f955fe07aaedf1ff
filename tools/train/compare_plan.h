// `loupe compare`'s plan: which runs to train, for how long, and what an earlier report already
// holds. Each -c spec "FILE.json[:section.key=value,...]" becomes a ComparePlan: the run config
// (FILE, then --set, then the spec's own overrides), a unique name (the file's stem plus each
// override's key=value; "-2", "-3" when two specs give the same name) and its steps:
//   --steps N    N steps;
//   --tokens N   ceil(N / tokens per step);
//   --minutes M  M minutes over the config's seconds per step, measured once over 3 steps after
//                one untimed and kept in OUT/runs/<name>/budget.json (so every seed, and a
//                resumed compare, runs the same steps).
// Its schedule is then fitted to its steps: max_iters = lr_decay_iters = steps, warm-up at most
// a tenth of them, 20 evaluations (the curve; an explicit --set train.eval_interval wins), a
// checkpoint at each. Seed k (0-based) of a plan trains with train.seed + k.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tools/train/compare.h"
#include "tools/train/run_config.h"

namespace loupe::tools {

struct CompareBudget {
  int64_t tokens = 0, steps = 0;  // exactly one of the three is > 0
  double minutes = 0;
  std::string describe() const;   // e.g. "500 steps per run" (the report's budget line)
};

struct ComparePlan {
  RunConfig cfg;     // seed 0's run config, schedule fitted
  std::string name;  // e.g. "wiola-baby.gcla=false"
  std::string spec;  // as given to -c
  int64_t steps = 0;
  int64_t tokens_per_step() const;
  RunConfig seed_config(int k) const;  // train.seed + k
};

// Every spec planned; errors name the spec (a bad override, a model key the model refuses).
std::vector<ComparePlan> plan_compare(const std::vector<std::string>& specs, const std::vector<std::string>& sets,
                                      const CompareBudget& budget, const std::string& out_dir, bool quiet);

// From one read of a run's metrics.jsonl: the median of the tokens/s the trainer logged (steps
// after the first), the val-loss curve against tokens seen, and the run's wall time as it
// logged it (its interrupted parts included).
void read_run_metrics(const std::string& path, int64_t tokens_per_step, CompareRun& run);

// A JSON file of the compare directory (run.json, result.json, budget.json, a report); an error
// names it.
nlohmann::json read_compare_json(const std::string& path);

// An earlier report given with --reuse: the run is deterministic, so a run with the same config
// name, the same run config (budget and schedule included) and the same seed need not train again.
struct EarlierReport {
  std::string path;
  nlohmann::json report;
};
std::vector<EarlierReport> load_earlier_reports(const std::vector<std::string>& paths);
// The result.json of run (name, seed index k, seed) from an earlier report whose config has the
// same run config; null if none has it. Says once per report and config why a same-named config
// is not reused.
nlohmann::json reused_result(const std::vector<EarlierReport>& earlier, const std::string& name,
                             const nlohmann::json& run_config, int k, uint64_t seed, bool quiet);

}  // namespace loupe::tools
