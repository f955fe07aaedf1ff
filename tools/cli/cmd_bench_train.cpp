// loupe bench train --config C [--steps N] [--set k=v ...] [--json] [--op-times]
// Training throughput of a config: N optimizer steps (after one untimed warm-up
// step) with no evaluation and no output files; tokens/s and the peak RSS, and the training MFU:
// model FLOPs per token (3 × the forward's matmul + attention FLOPs: backward costs twice the
// forward), the GFLOP/s that makes at the measured tokens/s, and its share of this machine's
// FMA peak measured just before (tools/audit/flops.h, tensor/kernels/peak.h).
// Under mpirun (data parallel, tools/train/cluster.h) each rank measures its own share of the FMA peak
// and rank 0 prints the cluster's tokens/s, each rank's time in the gradient reduction per step
// and the bytes each rank reduces per step.
// --op-times also splits the wall time by op: an op hook stamps the clock each time an
// op's forward or backward finishes and charges the time since the previous stamp to it.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>

#include "autograd/var.h"

#include "models/model.h"
#include "tensor/kernels/peak.h"
#include "tensor/parallel.h"
#include "tools/cli/commands.h"
#include "tools/audit/flops.h"
#include "tools/train/run_config.h"
#include "tools/train/run_data.h"
#include "tools/train/trainer.h"

namespace loupe::cli {

struct BenchTrainArgs {
  std::string config = "configs/gpt-baby.json";
  std::vector<std::string> sets;
  int64_t steps = 20;
  bool json = false, op_times = false;
};

// --op-times: seconds and calls per (op, pass); each op is charged the time since the previous
// op ended, and the time between a backward and the next forward (optimizer step, next batch)
// has its own row.
class OpTimes {
 public:
  explicit OpTimes(bool on) {
    if (on) hook_ = add_op_hook([this](const OpEvent& ev) { tick(ev); });
  }
  ~OpTimes() { stop(); }
  void stop() {
    if (hook_ >= 0) remove_op_hook(hook_);
    hook_ = -1;
  }
  void print(double steps) const {
    std::vector<std::pair<std::string, std::pair<double, int64_t>>> rows(times_.begin(), times_.end());
    std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.second.first > b.second.first; });
    double total = 0;
    for (auto& r : rows) total += r.second.first;
    std::printf("%-44s %10s %8s %7s\n", "op (pass)", "ms/step", "calls", "share");
    for (auto& [name, tc] : rows)
      std::printf("%-44s %10.3f %8.1f %6.1f%%\n", name.c_str(), 1e3 * tc.first / steps, double(tc.second) / steps,
                  100.0 * tc.first / total);
    std::printf("(each op is charged the time since the previous op ended, so adding its "
                "gradient in goes to the next one;\n while ops are timed, unary backward "
                "formulas write fresh tensors instead of over their incoming gradient)\n");
  }

 private:
  using Clock = std::chrono::steady_clock;
  void tick(const OpEvent& ev) {
    const auto now = Clock::now();
    if (last_ != Clock::time_point{}) {
      const std::string key = last_backward_ && !ev.backward ? std::string("(optimizer step, next batch)")
                                                             : std::string(ev.op) + (ev.backward ? " backward" : " forward");
      auto& t = times_[key];
      t.first += std::chrono::duration<double>(now - last_).count();
      t.second++;
    }
    last_ = now;
    last_backward_ = ev.backward;
  }
  std::map<std::string, std::pair<double, int64_t>> times_;
  Clock::time_point last_{};
  bool last_backward_ = false;
  int hook_ = -1;
};

// What the timed run is measured against, both taken before it: the model's training FLOPs per
// token (3 × its forward's) and the FMA peak, summed over the ranks (each measures its own cores).
struct Yardstick {
  double train_flops_per_token = 0, peak_gflops = 0;
};

static Yardstick measure_yardstick(const BenchTrainArgs& o, tools::Cluster& cluster) {
  Yardstick y;
  bool f64 = false;
  cluster.all_or_none([&] {  // a bad config or corpus stops every rank, reported once
    const tools::RunConfig cfg = tools::load_run_config(o.config, o.sets);
    const nlohmann::json m = tools::training_model_config(cfg, [&] { return tools::open_data(cfg.data).tokenizer->vocab_size(); });
    y.train_flops_per_token = 3.0 * tools::forward_flops_per_token(*models::build_model(m));
    f64 = cfg.train.dtype == DType::F64;
  });
  std::vector<double> peaks(size_t(cluster.size()), 0.0);
  peaks[size_t(cluster.rank())] = kernels::measure_fma_peak(f64, 0.3, get_num_threads()).gflops_all;
  cluster.share(peaks);
  for (double p : peaks) y.peak_gflops += p;
  return y;
}

static void print_report(const BenchTrainArgs& o, const tools::TrainResult& r, const Yardstick& y,
                         const std::vector<double>& comm_ms, const std::vector<double>& wait_ms) {
  struct rusage ru {};
  getrusage(RUSAGE_SELF, &ru);
  const double rss_mb = double(ru.ru_maxrss) / 1024.0;
  const int64_t tokens_per_step = r.tokens_per_step;
  const double gflops = y.train_flops_per_token * r.tokens_per_sec / 1e9, ms = 1e3 * double(tokens_per_step) / r.tokens_per_sec;
  if (o.json) {
    const nlohmann::json j = {{"bench", "train"}, {"config", o.config}, {"steps", r.steps_this_run - 1},
                              {"threads", get_num_threads()}, {"parameters", r.num_parameters},
                              {"tokens_per_step", tokens_per_step}, {"tokens_per_sec", r.tokens_per_sec},
                              {"ms_per_step", ms}, {"peak_rss_mb", rss_mb}, {"last_loss", r.last_train_loss},
                              {"train_flops_per_token", y.train_flops_per_token}, {"gflops", gflops},
                              {"fma_peak_gflops", y.peak_gflops}, {"mfu_percent", 100.0 * gflops / y.peak_gflops},
                              {"ranks", r.ranks}, {"comm_ms_per_step_by_rank", comm_ms},
                              {"wait_ms_per_step_by_rank", wait_ms}, {"reduced_bytes_per_step", r.reduced_bytes_per_step}};
    std::printf("%s\n", j.dump().c_str());
    return;
  }
  std::printf("%s: %lld parameters, %lld steps of %lld tokens on %d threads: %.0f tokens/s (%.1f ms/step), peak RSS %.0f MB\n",
              o.config.c_str(), (long long)r.num_parameters, (long long)r.steps_this_run - 1, (long long)tokens_per_step,
              get_num_threads(), r.tokens_per_sec, ms, rss_mb);
  if (r.ranks > 1) {
    std::string by_rank;
    char buf[64];
    for (size_t i = 0; i < comm_ms.size(); ++i) {
      std::snprintf(buf, sizeof buf, "%s%zu: %.2f + %.2f", i ? ", " : "", i, comm_ms[i], wait_ms[i]);
      by_rank += buf;
    }
    std::printf("%d ranks: %.0f tokens/s in all, %.0f per rank; ms per step in the gradient reduction + waiting "
                "for the slowest rank, by rank: %s; %.2f MB reduced per step by each rank; peak RSS above is "
                "rank 0's\n",
                r.ranks, r.tokens_per_sec, r.tokens_per_sec / r.ranks, by_rank.c_str(),
                double(r.reduced_bytes_per_step) / 1e6);
  }
  std::printf("model %.3g FLOP per token (3 x forward matmul + attention), %.1f GFLOP/s: %.0f%% of the "
              "measured FMA peak %.1f GFLOP/s (training MFU)\n",
              y.train_flops_per_token, gflops, 100.0 * gflops / y.peak_gflops, y.peak_gflops);
}

static void run_bench_train(BenchTrainArgs& o) {
  tools::Cluster& cluster = tools::Cluster::world();
  const Yardstick y = measure_yardstick(o, cluster);
  // Hooked only now: the yardstick's FLOP count runs a forward, and the pause after it (the FMA
  // probe, loading the data) would be charged to the training's first op.
  OpTimes op_times(o.op_times);
  // One warm-up step (allocations, packing buffers) then the timed ones.
  auto sets = o.sets;
  sets.push_back("train.max_iters=" + std::to_string(o.steps + 1));
  tools::TrainOptions t;
  t.config = tools::load_run_config(o.config, sets);
  t.progress = false;
  t.evaluate = false;
  t.untimed_steps = 1;
  t.cluster = &cluster;
  const auto r = tools::train(t);
  op_times.stop();
  std::vector<double> comm_ms(size_t(cluster.size()), 0.0), wait_ms(size_t(cluster.size()), 0.0);
  comm_ms[size_t(cluster.rank())] = 1e3 * r.comm_seconds_per_step;
  wait_ms[size_t(cluster.rank())] = 1e3 * r.wait_seconds_per_step;
  cluster.share(comm_ms);
  cluster.share(wait_ms);
  if (!cluster.is_root()) return;  // rank 0 reports for the cluster
  print_report(o, r, y, comm_ms, wait_ms);
  if (o.op_times) op_times.print(double(r.steps_this_run));  // the warm-up step is included here
}

void register_bench_train(CLI::App& bench) {
  auto o = std::make_shared<BenchTrainArgs>();
  auto* sub = bench.add_subcommand("train", "training tokens/s and peak memory of a config");
  sub->add_option("--config,-c", o->config, "run config");
  sub->add_option("--steps", o->steps, "timed steps")->check(CLI::PositiveNumber);
  sub->add_option("--set", o->sets, "override a config key: section.key=value");
  sub->add_flag("--json", o->json, "print one JSON object");
  sub->add_flag("--op-times", o->op_times, "also print the wall time per op (forward and backward) per step");
  actions().push_back({sub, [o] { run_bench_train(*o); }});
}

}  // namespace loupe::cli
