#include "tools/train/compare.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>

#include "tools/train/loss_plot.h"

namespace loupe::tools {

using nlohmann::json;

json CompareRun::to_json() const {
  json c = json::array();
  for (auto [t, l] : curve) c.push_back({t, l});
  return {{"seed_index", seed_index}, {"seed", seed}, {"val_loss", val_loss}, {"val_tokens", val_tokens},
          {"tokens_per_sec", tokens_per_sec}, {"peak_rss_bytes", peak_rss_bytes}, {"wall_seconds", wall_seconds},
          {"curve", c}, {"machine", machine}};
}

CompareRun CompareRun::from_json(const json& j) {
  CompareRun r;
  r.seed_index = j.at("seed_index").get<int>();
  r.seed = j.at("seed").get<uint64_t>();
  r.val_loss = j.at("val_loss").get<double>();
  r.val_tokens = j.at("val_tokens").get<int64_t>();
  r.tokens_per_sec = j.at("tokens_per_sec").get<double>();
  r.peak_rss_bytes = j.at("peak_rss_bytes").get<int64_t>();
  r.wall_seconds = j.at("wall_seconds").get<double>();
  r.machine = j.value("machine", "");
  for (auto& p : j.at("curve")) r.curve.emplace_back(p.at(0).get<int64_t>(), p.at(1).get<double>());
  return r;
}

std::pair<double, double> mean_sd(const std::vector<double>& v) {
  if (v.empty()) return {NAN, NAN};
  double m = 0;
  for (double x : v) m += x;
  m /= double(v.size());
  if (v.size() < 2) return {m, 0.0};
  double ss = 0;
  for (double x : v) ss += (x - m) * (x - m);
  return {m, std::sqrt(ss / double(v.size() - 1))};
}

static std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

// 1234567 -> "1,234,567"
static std::string grouped(int64_t n) {
  std::string d = std::to_string(n < 0 ? -n : n), out;
  for (size_t i = 0; i < d.size(); ++i) {
    if (i && (d.size() - i) % 3 == 0) out += ',';
    out += d[i];
  }
  return n < 0 ? "-" + out : out;
}

static std::string mib(int64_t bytes) {
  const double b = double(bytes);
  return b < 1024.0 * 1024.0 ? fmt("%.1f KiB", b / 1024.0) : fmt("%.1f MiB", b / (1024.0 * 1024.0));
}

static std::vector<double> field(const CompareConfig& c, double CompareRun::*f) {
  std::vector<double> v;
  for (auto& r : c.runs) v.push_back(r.*f);
  return v;
}

// The machine a run trained on ("" = the report's own, as in reports older than the field).
static const std::string& machine_of(const CompareReport& r, const CompareRun& run) {
  return run.machine.empty() ? r.machine : run.machine;
}

std::string compare_markdown(const CompareReport& r) {
  bool one_machine = true;  // runs reused from another report (--reuse) may come from other machines
  for (auto& c : r.configs)
    for (auto& run : c.runs) one_machine = one_machine && machine_of(r, run) == r.machine;
  std::string s = "# loupe compare\n\n```\n" + r.command + "\n```\n\n";
  s += "Budget: " + r.budget + ". Machine: " + r.machine + ".\n\n";
  s += "Validation loss is the mean cross-entropy over every token of the validation split (consecutive\n"
       "block_size windows); ± is the standard deviation over seeds. Speeds are of the machine above";
  s += one_machine ? ".\n\n"
                   : ", except for the runs\nreused from an earlier report, whose machine \"Every run\" gives; a per-config speed then mixes\nmachines.\n\n";
  s += "| config | parameters | steps | tokens seen | val loss | seeds | train tokens/s | peak RSS | KV cache | ms/token |\n";
  s += "|---|---:|---:|---:|---|---:|---:|---:|---:|---:|\n";
  for (auto& c : r.configs) {
    const auto [m, sd] = mean_sd(field(c, &CompareRun::val_loss));
    const auto [tps, tps_sd] = mean_sd(field(c, &CompareRun::tokens_per_sec));
    int64_t rss = 0;
    for (auto& run : c.runs) rss = std::max(rss, run.peak_rss_bytes);
    s += "| " + c.name + " | " + grouped(c.parameters) + " | " + grouped(c.steps) + " | " +
         grouped(c.steps * c.tokens_per_step) + " | " + fmt("%.4f", m) + " ± " + fmt("%.4f", sd) + " | " +
         std::to_string(c.runs.size()) + " | " + grouped(int64_t(std::llround(tps))) + " | " + mib(rss) + " | " +
         mib(c.kv_cache_bytes) + " | " + fmt("%.2f", c.gen_ms_per_token) + " |\n";
  }
  s += "\nKV cache: bytes of the incremental-decoding state at batch 1 with the whole block_size context;\n"
       "ms/token: median wall time of one greedy decode step at batch 1 through that cache.\n\n";
  s += "## Every run\n\n| config | file | seed | val loss | train tokens/s | peak RSS | wall time |";
  s += one_machine ? "\n|---|---|---:|---:|---:|---:|---:|\n" : " machine |\n|---|---|---:|---:|---:|---:|---:|---|\n";
  for (auto& c : r.configs)
    for (auto& run : c.runs)
      s += "| " + c.name + " | " + c.path + " | " + std::to_string(run.seed) + " | " + fmt("%.4f", run.val_loss) +
           " | " + grouped(int64_t(std::llround(run.tokens_per_sec))) + " | " + mib(run.peak_rss_bytes) + " | " +
           fmt("%.0f s", run.wall_seconds) + " |" + (one_machine ? "" : " " + machine_of(r, run) + " |") + "\n";
  s += "\n![validation loss against tokens seen](curves.svg)\n";
  return s;
}

std::string compare_svg(const CompareReport& r) {
  static const char* colors[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"};
  std::vector<LossSeries> series;
  for (size_t i = 0; i < r.configs.size(); ++i) {
    const auto& c = r.configs[i];
    std::map<int64_t, std::vector<double>> at;  // tokens seen -> each seed's loss there
    for (auto& run : c.runs)
      for (auto [t, l] : run.curve) at[t].push_back(l);
    LossSeries mean{.name = c.name + (c.runs.size() > 1 ? " (mean of " + std::to_string(c.runs.size()) + ")" : ""),
                    .color = colors[i % std::size(colors)]};
    LossSeries lo{.color = mean.color}, hi{.color = mean.color};
    for (auto& [t, ls] : at) {
      mean.points.emplace_back(double(t), mean_sd(ls).first);
      lo.points.emplace_back(double(t), *std::min_element(ls.begin(), ls.end()));
      hi.points.emplace_back(double(t), *std::max_element(ls.begin(), ls.end()));
    }
    series.push_back(mean);
    if (c.runs.size() > 1) {
      for (auto* b : {&lo, &hi}) b->width = 0.8, b->dash = "3 3", b->legend = false, series.push_back(*b);
    }
  }
  return loss_svg(series, "validation loss (sampled batches; dashed: min and max over seeds)", "tokens seen");
}

json compare_json(const CompareReport& r) {
  json configs = json::array();
  for (auto& c : r.configs) {
    json runs = json::array();
    for (auto& run : c.runs) runs.push_back(run.to_json());
    const auto [m, sd] = mean_sd(field(c, &CompareRun::val_loss));
    configs.push_back({{"name", c.name}, {"path", c.path}, {"parameters", c.parameters}, {"steps", c.steps},
                       {"tokens_per_step", c.tokens_per_step}, {"tokens", c.steps * c.tokens_per_step},
                       {"kv_cache_bytes", c.kv_cache_bytes}, {"gen_ms_per_token", c.gen_ms_per_token},
                       {"val_loss_mean", m}, {"val_loss_sd", sd}, {"run_config", c.run_config}, {"runs", runs}});
  }
  return {{"command", r.command}, {"budget", r.budget}, {"machine", r.machine}, {"configs", configs}};
}

}  // namespace loupe::tools
