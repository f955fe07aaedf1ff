// loupe eval --ckpt DIR [--iters N] [--split val|train] [--seed S] [--whole] [--json]
// Mean cross-entropy of a checkpoint on fixed batches of a split, and its perplexity exp(loss);
// --whole: over every token of the split instead (consecutive block_size windows, no sampling).
// The batches are drawn from the config's seed unless --seed picks another draw (to see how
// much an estimate from few batches moves with the batches drawn).
#include <cmath>
#include <cstdio>

#include "autograd/anomaly.h"
#include "tools/train/checkpoint.h"
#include "tools/cli/commands.h"
#include "tools/train/evaluate.h"
#include "tools/train/run_data.h"

namespace loupe::cli {

struct EvalArgs {
  std::string ckpt, split = "val";
  int64_t iters = 0, batch = 0;
  int64_t seed = -1;
  bool json = false, anomaly = false, whole = false, allow_other_data = false;
};

static void run_eval(EvalArgs& o) {
  std::unique_ptr<AnomalyScope> anomaly;
  if (o.anomaly) anomaly = std::make_unique<AnomalyScope>("anomaly");
  const auto ck = tools::load_checkpoint(o.ckpt);
  auto model = tools::model_from_checkpoint(ck);
  auto data = tools::open_checkpoint_data(ck, o.ckpt, o.allow_other_data);
  tools::TrainConfig t = ck.config.train;
  const int64_t iters = o.iters > 0 ? o.iters : t.eval_iters;
  const int64_t batch = o.batch > 0 ? o.batch : t.batch_size;
  const auto split = o.split == "val" ? text::Split::Val : text::Split::Train;
  if (o.whole) {
    int64_t tokens = 0;
    const double loss = tools::split_loss(*model, *data.dataset, split, model->block_size(), batch, &tokens);
    if (o.json)
      std::printf("%s\n", nlohmann::json{{"split", o.split}, {"loss", loss}, {"perplexity", std::exp(loss)},
                                         {"step", ck.step}, {"tokens", tokens}, {"whole", true}}.dump().c_str());
    else
      std::printf("%s loss %.4f, perplexity %.3f (step %lld, every one of %lld tokens, windows of %lld)\n",
                  o.split.c_str(), loss, std::exp(loss), (long long)ck.step, (long long)tokens,
                  (long long)model->block_size());
    return;
  }
  if (o.seed >= 0) t.seed = uint64_t(o.seed);  // another draw: the evaluation batches of that seed
  const double loss = tools::estimate_loss(*model, *data.dataset, split, batch, model->block_size(), iters, t.eval_seed());
  if (o.json)
    std::printf("%s\n", nlohmann::json{{"split", o.split}, {"loss", loss},
                                       {"perplexity", std::exp(loss)}, {"step", ck.step},
                                       {"iters", iters}, {"batch", batch}, {"seed", o.seed}}.dump().c_str());
  else
    std::printf("%s loss %.4f, perplexity %.3f (step %lld, %lld batches of %lld)\n",
                o.split.c_str(), loss, std::exp(loss), (long long)ck.step, (long long)iters,
                (long long)batch);
}

void register_eval(CLI::App& app) {
  auto o = std::make_shared<EvalArgs>();
  auto* sub = app.add_subcommand("eval", "validation loss and perplexity of a checkpoint");
  sub->add_option("--ckpt", o->ckpt, "checkpoint directory")->required();
  sub->add_option("--iters", o->iters, "batches to average (default: the config's eval_iters)");
  sub->add_option("--batch", o->batch, "batch size (default: the config's batch_size)");
  sub->add_option("--split", o->split, "val or train")->check(CLI::IsMember({"val", "train"}));
  sub->add_option("--seed", o->seed, "seed of the batch draw (default: the one training evaluated with)")
      ->check(CLI::NonNegativeNumber);
  sub->add_flag("--whole", o->whole, "every token of the split (consecutive block_size windows) instead of sampled batches");
  sub->add_flag("--json", o->json, "print one JSON object");
  sub->add_flag("--allow-other-data", o->allow_other_data,
                "evaluate on data.corpus even if it is not the data the checkpoint trained on (by default refused)");
  add_reference_flag(sub);
  sub->add_flag("--anomaly", o->anomaly, "stop at the first NaN/Inf an op makes, naming it (inputs dumped to ./anomaly)");
  actions().push_back({sub, [o] { run_eval(*o); }});
}

}  // namespace loupe::cli
