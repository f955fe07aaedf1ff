#include "tools/train/compare_plan.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <sstream>

#include "models/model.h"
#include "tensor/error.h"
#include "tensor/file_io.h"
#include "tools/train/metrics.h"
#include "tools/train/trainer.h"

namespace loupe::tools {

namespace fs = std::filesystem;
using nlohmann::json;

json read_compare_json(const std::string& path) {
  try {
    return json::parse(read_file(path));
  } catch (const json::exception& e) {
    throw Error(detail::cat("compare: '", path, "' is not valid JSON: ", e.what()));
  }
}

std::string CompareBudget::describe() const {
  if (steps > 0) return std::to_string(steps) + " steps per run";
  if (tokens > 0) return std::to_string(tokens) + " tokens per run (whole steps, rounded up)";
  return detail::cat(minutes, " minutes per run (as steps: the minutes over the config's measured seconds per step)");
}

int64_t ComparePlan::tokens_per_step() const {
  return cfg.train.batch_size * cfg.train.grad_accum * cfg.model.at("block_size").get<int64_t>();
}

RunConfig ComparePlan::seed_config(int k) const {
  RunConfig c = cfg;
  c.train.seed += uint64_t(k);
  return c;
}

// Seconds per step of a config, over 3 steps after one untimed (the trainer in bench mode).
static double seconds_per_step(const RunConfig& cfg) {
  TrainOptions t;
  t.config = cfg;
  t.config.train.max_iters = 4;
  t.progress = false;
  t.evaluate = false;
  t.untimed_steps = 1;
  const auto r = train(t);
  LOUPE_CHECK(r.tokens_per_sec > 0, "compare: could not time a step");
  return double(r.tokens_per_step) / r.tokens_per_sec;
}

namespace {

// "FILE.json:k=v,k=v": the file, then its own overrides (after --set); its name gets each key=value.
ComparePlan parse_spec(const std::string& spec, std::vector<std::string> sets) {
  ComparePlan p;
  p.spec = spec;
  std::string path = spec;
  p.name = fs::path(spec).stem().string();
  if (const size_t at = spec.find(".json:"); at != std::string::npos) {
    path = spec.substr(0, at + 5);
    p.name = fs::path(path).stem().string();
    std::stringstream list(spec.substr(at + 6));
    for (std::string kv; std::getline(list, kv, ',');) {
      const size_t eq = kv.find('='), dot = kv.rfind('.', eq);
      LOUPE_CHECK(eq != std::string::npos && dot != std::string::npos && dot > 0 && eq > dot + 1, "compare: -c '", spec,
                  "': override '", kv, "' is not section.key=value");
      sets.push_back(kv);
      p.name.append(".").append(kv, dot + 1);  // not "." + ...: GCC 12 warns falsely (-Wrestrict) on that
    }
  }
  p.cfg = load_run_config(path, sets);
  try {  // the model keys too, before any run starts (the registry parses them to count parameters)
    json m = p.cfg.model;
    if (!m.contains("vocab_size")) m["vocab_size"] = 256;  // the data gives it; any value checks the rest
    models::model_info(m.at("type").get<std::string>()).count_parameters(m);
  } catch (const std::exception& e) {
    throw Error(detail::cat("compare: -c '", spec, "': ", e.what()));
  }
  return p;
}

// --minutes: the steps measured once and kept in budget.json, for the same minutes and config.
int64_t steps_in_minutes(const ComparePlan& p, double minutes, const fs::path& out, bool quiet) {
  const fs::path bfile = out / "runs" / p.name / "budget.json";
  json b;
  if (fs::exists(bfile)) b = read_compare_json(bfile.string());
  if (b.is_object() && b.value("minutes", -1.0) == minutes && b.value("config", json()) == p.cfg.to_json())
    return b.at("steps").get<int64_t>();
  if (!quiet) std::fprintf(stderr, "[compare] timing %s ...\n", p.name.c_str());
  const double sps = seconds_per_step(p.cfg);
  const int64_t steps = std::max<int64_t>(1, int64_t(minutes * 60.0 / sps));
  fs::create_directories(bfile.parent_path());
  write_file_atomic(bfile.string(), json{{"minutes", minutes}, {"seconds_per_step", sps}, {"steps", steps},
                                         {"config", p.cfg.to_json()}}.dump(1) + "\n");
  return steps;
}

// The schedule fitted to the budget (an explicit --set of eval_interval wins).
void fit_schedule(ComparePlan& p, const std::vector<std::string>& sets) {
  auto& t = p.cfg.train;
  t.max_iters = p.steps;
  t.decay_iters = p.steps;
  t.warmup_iters = std::min(t.warmup_iters, p.steps / 10);
  const bool eval_set = std::any_of(sets.begin(), sets.end(),
                                    [](const std::string& s) { return s.rfind("train.eval_interval=", 0) == 0; });
  if (!eval_set) t.eval_interval = std::max<int64_t>(1, p.steps / 20);
  t.ckpt_interval = t.eval_interval;
}

}  // namespace

std::vector<ComparePlan> plan_compare(const std::vector<std::string>& specs, const std::vector<std::string>& sets,
                                      const CompareBudget& budget, const std::string& out_dir, bool quiet) {
  std::vector<ComparePlan> plans;
  for (const auto& spec : specs) {
    ComparePlan p = parse_spec(spec, sets);
    const std::string base = p.name;
    for (int k = 2; std::any_of(plans.begin(), plans.end(), [&](const ComparePlan& q) { return q.name == p.name; }); ++k)
      p.name = base + "-" + std::to_string(k);
    const int64_t tps = p.tokens_per_step();
    if (budget.steps > 0) p.steps = budget.steps;
    if (budget.tokens > 0) p.steps = (budget.tokens + tps - 1) / tps;
    if (budget.minutes > 0) p.steps = steps_in_minutes(p, budget.minutes, out_dir, quiet);
    fit_schedule(p, sets);
    plans.push_back(std::move(p));
  }
  return plans;
}

void read_run_metrics(const std::string& path, int64_t tokens_per_step, CompareRun& run) {
  std::vector<double> tps;
  for (const json& j : read_metrics_rows(path, false)) {
    const int64_t step = j["step"].get<int64_t>();
    if (j.contains("tokens_per_sec") && step > 0) tps.push_back(j["tokens_per_sec"].get<double>());
    if (j.contains("val_loss")) run.curve.emplace_back(step * tokens_per_step, j["val_loss"].get<double>());
    if (j.contains("elapsed_s")) run.wall_seconds = std::max(run.wall_seconds, j["elapsed_s"].get<double>());
  }
  std::sort(tps.begin(), tps.end());
  const size_t n = tps.size();
  run.tokens_per_sec = n == 0 ? 0 : n % 2 ? tps[n / 2] : 0.5 * (tps[n / 2 - 1] + tps[n / 2]);
}

std::vector<EarlierReport> load_earlier_reports(const std::vector<std::string>& paths) {
  std::vector<EarlierReport> earlier;
  for (auto& f : paths) {
    LOUPE_CHECK_FILE(fs::exists(f), "compare: --reuse '", f, "' does not exist");
    EarlierReport e{f, read_compare_json(f)};
    LOUPE_CHECK(e.report.is_object() && e.report.contains("configs") && e.report["configs"].is_array(), "compare: --reuse '",
                f, "' is not a loupe compare report (no \"configs\" list)");
    earlier.push_back(std::move(e));
  }
  return earlier;
}

json reused_result(const std::vector<EarlierReport>& earlier, const std::string& name, const json& run_config, int k,
                    uint64_t seed, bool quiet) {
  for (auto& e : earlier)
    for (auto& c : e.report.at("configs")) {
      if (c.value("name", "") != name) continue;
      if (c.value("run_config", json()) != run_config) {
        if (!quiet && k == 0)
          std::fprintf(stderr, "[compare] not reusing %s from %s: %s\n", name.c_str(), e.path.c_str(),
                       c.value("run_config", json()).is_null()
                           ? "that report has no run configs (it predates them)"
                           : "it was trained with another run config (config file, --set or budget differ)");
        continue;
      }
      for (auto& r : c.at("runs")) {
        if (r.at("seed_index").get<int>() != k || r.at("seed").get<uint64_t>() != seed) continue;
        json run = r;
        if (run.value("machine", "").empty()) run["machine"] = e.report.value("machine", "");
        return json{{"run", run}, {"parameters", c.at("parameters")}, {"kv_cache_bytes", c.at("kv_cache_bytes")},
                    {"gen_ms_per_token", c.at("gen_ms_per_token")}, {"reused_from", e.path}};
      }
    }
  return json();
}

}  // namespace loupe::tools
