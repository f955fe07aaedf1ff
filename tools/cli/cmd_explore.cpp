// loupe explore --config C [--step N] [--set k=v] | --ckpt DIR  -o step.html [--shadow] [--json F]
// One training step of a run, every op recorded, as one self-contained HTML page
// (tools/audit/explore.h): the module tree, the ops in execution order with their inputs,
// outputs and gradients, each parameter's update, the attention maps and each op's equation.
#include <cstdio>

#include "tensor/file_io.h"
#include "tools/audit/explore.h"
#include "tools/cli/commands.h"

namespace loupe::cli {

struct ExploreArgs {
  tools::ExploreOptions opt;
  std::string out, json;
};

static void run_explore(const ExploreArgs& a) {
  const nlohmann::json record = tools::explore_step(a.opt);
  const std::string page = tools::explore_page(record);
  write_file_atomic(a.out, page);  // nothing half-written: the page appears whole or not at all
  if (!a.json.empty()) write_file_atomic(a.json, record.dump(1, ' ', false, nlohmann::json::error_handler_t::replace));
  const auto& run = record["run"];
  std::printf("wrote %s (%.1f MB): %s step %lld, %zu ops, %zu modules, %zu parameters, %zu attention maps; loss %.6f; "
              "recorded in %.1f s\n",
              a.out.c_str(), double(page.size()) / 1e6, run["type"].get<std::string>().c_str(),
              (long long)run["step"].get<int64_t>(), record["ops"].size(), record["modules"].size(),
              record["params"].size(), record["attention"]["maps"].size(), run["loss"].get<double>(),
              run["seconds"].get<double>());
}

void register_explore(CLI::App& app) {
  auto a = std::make_shared<ExploreArgs>();
  auto* e = app.add_subcommand("explore", "one training step as a self-contained HTML page: every op's numbers, "
                                          "gradients, the optimizer's updates and the attention maps");
  e->add_option("--config,-c", a->opt.config, "run config (the model starts from its initial weights)");
  e->add_option("--set", a->opt.sets, "override a config key: section.key=value");
  e->add_option("--step", a->opt.step, "with --config: train this many steps first and show the next")
      ->check(CLI::NonNegativeNumber);
  e->add_option("--ckpt", a->opt.ckpt, "a checkpoint: its weights, optimizer state, and the step it takes next");
  e->add_flag("--allow-other-data", a->opt.allow_other_data, "a checkpoint's corpus may differ from what it trained on");
  e->add_flag("--shadow", a->opt.shadow, "also run the step in f64: each op's f32 error");
  e->add_option("-o,--out", a->out, "HTML file to write")->required();
  e->add_option("--json", a->json, "also write the page's record as JSON");
  actions().push_back({e, [a] { run_explore(*a); }});
}

}  // namespace loupe::cli
