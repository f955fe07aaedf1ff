// loupe train --config C [--set section.key=value ...] [--out DIR] [--resume | --force]
// Trains a model (tools/train/trainer.h): progress on stderr, DIR/metrics.jsonl, DIR/loss.svg,
// DIR/ckpt.safetensors. With --resume, continues from DIR's checkpoint (the config then
// defaults to the checkpoint's own). A DIR that holds a run is refused unless --resume or
// --force (start over, replacing it); without --out, a new run goes to runs/<config name>, or
// runs/<config name>-2, -3, ... when that holds a run already.
#include <cstdio>
#include <filesystem>

#include "tools/train/checkpoint.h"
#include "tools/cli/commands.h"
#include "tools/train/run_config.h"
#include "tools/train/metrics.h"
#include "tools/train/trainer.h"

namespace loupe::cli {

struct TrainArgs {
  std::string config, out;
  std::vector<std::string> sets;
  bool resume = false, force = false, quiet = false, anomaly = false, allow_other_data = false;
  int64_t stop_after = -1;
};

static void run_train(TrainArgs& o) {
  namespace fs = std::filesystem;
  tools::Cluster::world();  // joins the MPI job first (or says this loupe was built without MPI)
  LOUPE_CHECK(!(o.resume && o.force), "train: --resume continues a run, --force replaces it: give one");
  if (o.out.empty()) {
    LOUPE_CHECK(!o.config.empty(), "train: give --config or --out");
    const std::string base = (fs::path("runs") / fs::path(o.config).stem()).string();
    o.out = base;
    for (int k = 2; !o.resume && !o.force && !tools::run_files_in(o.out).empty(); ++k) o.out = base + "-" + std::to_string(k);
    if (o.out != base && tools::Cluster::world().is_root())
      std::fprintf(stderr, "loupe: '%s' holds a run (--resume continues it); this one goes to '%s'\n", base.c_str(),
                   o.out.c_str());
  }
  tools::TrainOptions t;
  if (o.config.empty()) {
    LOUPE_CHECK(o.resume, "train: --config is required (unless --resume)");
    nlohmann::json cfg = tools::load_checkpoint(o.out).config.to_json();
    for (auto& s : o.sets) tools::apply_set(cfg, s);
    t.config = tools::RunConfig::from_json(cfg, "checkpoint config in '" + o.out + "'");
  } else {
    t.config = tools::load_run_config(o.config, o.sets);
  }
  t.out_dir = o.out;
  t.resume = o.resume;
  t.force = o.force;
  t.allow_other_data = o.allow_other_data;
  t.progress = !o.quiet;
  t.stop_after = o.stop_after;
  t.anomaly = o.anomaly;
  t.cluster = &tools::Cluster::world();
  const auto r = tools::train(t);
  if (!t.cluster->is_root()) return;
  std::printf("trained %lld steps (%lld this run) in %.1fs: last loss %.4f, val loss %.4f, "
              "%.0f tokens/s; checkpoint %s\n",
              (long long)r.steps_done, (long long)r.steps_this_run, r.seconds,
              r.last_train_loss, r.val_loss, r.tokens_per_sec,
              tools::checkpoint_path(o.out).c_str());
}

void register_train(CLI::App& app) {
  auto o = std::make_shared<TrainArgs>();
  auto* sub = app.add_subcommand("train", "train a model from a JSON config");
  sub->add_option("--config,-c", o->config, "run config (configs/*.json); with --resume defaults to the checkpoint's");
  sub->add_option("--set", o->sets, "override a config key: section.key=value (e.g. train.lr=3e-4)");
  sub->add_option("--out,-o", o->out, "output directory (default runs/<config name>)");
  sub->add_flag("--resume", o->resume, "continue from the checkpoint in --out");
  sub->add_flag("--force", o->force, "start over in an --out that holds a run, replacing it");
  sub->add_flag("--allow-other-data", o->allow_other_data,
                "with --resume: go on even if data.corpus is not the data the checkpoint trained on");
  sub->add_option("--stop-after", o->stop_after, "stop (with a checkpoint) after this many steps in total");
  sub->add_flag("--quiet,-q", o->quiet, "no progress output");
  add_reference_flag(sub);
  sub->add_flag("--anomaly", o->anomaly, "stop at the first NaN/Inf an op makes, naming it (inputs dumped to OUT/anomaly)");
  actions().push_back({sub, [o] { run_train(*o); }});
}

}  // namespace loupe::cli
