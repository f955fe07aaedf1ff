// loupe batches --config C [--set section.key=value ...] --steps N -o batches.npy
// The token batches `loupe train` trains on in its first N steps (one process; tools/train/step.h),
// as one int64 .npy array [N · grad_accum, batch_size, block_size + 1]: entry it·grad_accum + m is
// micro-batch m of step it, each row its block_size inputs followed by the row's last target
// (inputs x = row[:-1], targets y = row[1:]). Another framework that trains on these, from the
// initial weights of `loupe train --stop-after 0`, sees exactly loupe's data
// (tools/reference/torch_train.py --batches).
#include <cstdio>

#include "models/model.h"
#include "tensor/npy.h"
#include "tools/cli/commands.h"
#include "tools/train/run_config.h"
#include "tools/train/run_data.h"
#include "tools/train/step.h"

namespace loupe::cli {

struct BatchesArgs {
  std::string config, out;
  std::vector<std::string> sets;
  int64_t steps = 0;
};

static void run_batches(const BatchesArgs& o) {
  const tools::RunConfig cfg = tools::load_run_config(o.config, o.sets);
  const tools::Data data = tools::open_data(cfg.data);
  const auto model = models::build_model(tools::training_model_config(cfg, [&] { return data.tokenizer->vocab_size(); }));
  const int64_t T = model->block_size(), B = cfg.train.batch_size, M = cfg.train.grad_accum;
  data.dataset->check_block(T);
  Tensor out = Tensor::empty({o.steps * M, B, T + 1}, DType::I64);
  int64_t* p = out.data<int64_t>();
  Tensor x, y;
  for (int64_t it = 0; it < o.steps; ++it)
    for (int64_t m = 0; m < M; ++m) {
      tools::training_batch(*data.dataset, cfg.train.seed, B, T, it, M, m, x, y);
      const int64_t *px = x.data<int64_t>(), *py = y.data<int64_t>();
      for (int64_t r = 0; r < B; ++r, p += T + 1) {
        for (int64_t t = 0; t < T; ++t) p[t] = px[r * T + t];
        p[T] = py[r * T + T - 1];
      }
    }
  save_npy(o.out, out);
  std::printf("wrote %lld micro-batches of %lld x %lld tokens (%lld steps x grad_accum %lld) to %s\n",
              (long long)(o.steps * M), (long long)B, (long long)(T + 1), (long long)o.steps, (long long)M, o.out.c_str());
}

void register_batches(CLI::App& app) {
  auto o = std::make_shared<BatchesArgs>();
  auto* sub = app.add_subcommand("batches", "write the token batches `loupe train` trains on, as .npy (for other frameworks)");
  sub->add_option("--config,-c", o->config, "run config")->required();
  sub->add_option("--set", o->sets, "override a config key: section.key=value");
  sub->add_option("--steps", o->steps, "steps to write")->required()->check(CLI::Range(int64_t(1), int64_t(1) << 20));
  sub->add_option("--out,-o", o->out, "the .npy file")->required();
  actions().push_back({sub, [o] { run_batches(*o); }});
}

}  // namespace loupe::cli
