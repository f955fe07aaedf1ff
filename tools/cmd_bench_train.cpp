// loupe bench train --config C [--steps N] [--set k=v ...] [--json]
// Training throughput of a config: N optimizer steps (after one untimed warm-up
// step) with no evaluation and no output files; tokens/s and the peak RSS.
#include <sys/resource.h>

#include <cstdio>

#include "tensor/parallel.h"
#include "tools/commands.h"
#include "tools/run_config.h"
#include "tools/trainer.h"

namespace loupe::cli {

void register_bench_train(CLI::App& bench) {
  struct Opts {
    std::string config = "configs/gpt-baby.json";
    std::vector<std::string> sets;
    int64_t steps = 20;
    bool json = false;
  };
  auto o = std::make_shared<Opts>();
  auto* sub = bench.add_subcommand("train", "training tokens/s and peak memory of a config");
  sub->add_option("--config,-c", o->config, "run config");
  sub->add_option("--steps", o->steps, "timed steps")->check(CLI::PositiveNumber);
  sub->add_option("--set", o->sets, "override a config key: section.key=value");
  sub->add_flag("--json", o->json, "print one JSON object");
  actions().push_back({sub, [o] {
                         auto sets = o->sets;
                         // One warm-up step (allocations, packing buffers) then the timed ones.
                         sets.push_back("train.max_iters=" + std::to_string(o->steps + 1));
                         tools::TrainOptions t;
                         t.config = tools::load_run_config(o->config, sets);
                         t.progress = false;
                         t.evaluate = false;
                         t.untimed_steps = 1;
                         const auto r = tools::train(t);
                         struct rusage ru {};
                         getrusage(RUSAGE_SELF, &ru);
                         const double rss_mb = double(ru.ru_maxrss) / 1024.0;
                         const int64_t tokens_per_step = r.tokens_per_step;
                         if (o->json)
                           std::printf("%s\n", nlohmann::json{{"bench", "train"}, {"config", o->config},
                                                              {"steps", r.steps_this_run - 1}, {"threads", get_num_threads()},
                                                              {"parameters", r.num_parameters},
                                                              {"tokens_per_step", tokens_per_step},
                                                              {"tokens_per_sec", r.tokens_per_sec},
                                                              {"ms_per_step", 1e3 * double(tokens_per_step) / r.tokens_per_sec},
                                                              {"peak_rss_mb", rss_mb}, {"last_loss", r.last_train_loss}}
                                                   .dump()
                                                   .c_str());
                         else
                           std::printf("%s: %lld parameters, %lld steps of %lld tokens on %d threads: %.0f tokens/s "
                                       "(%.1f ms/step), peak RSS %.0f MB\n",
                                       o->config.c_str(), (long long)r.num_parameters, (long long)r.steps_this_run - 1,
                                       (long long)tokens_per_step, get_num_threads(), r.tokens_per_sec,
                                       1e3 * double(tokens_per_step) / r.tokens_per_sec, rss_mb);
                       }});
}

}  // namespace loupe::cli
