// loupe summary --config C | --ckpt DIR [--batch B] [--json]
// What a model computes, for learners (torchinfo-like): the module tree with parameter counts and
// each module's output shape for one batch, the forward FLOPs per token, and the activation bytes
// each layer keeps for backward. Shapes and FLOPs come from one real forward pass, observed
// through the op hooks.
#include <cstdio>
#include <functional>
#include <map>
#include <string_view>

#include "autograd/ops.h"
#include "models/activation_probe.h"
#include "tools/train/checkpoint.h"
#include "tools/cli/commands.h"
#include "tools/audit/flops.h"
#include "tools/train/run_config.h"
#include "tools/train/run_data.h"

namespace loupe::cli {

struct SummaryArgs {
  std::string config, ckpt;
  std::vector<std::string> sets;
  int64_t batch = 1;
  bool json = false;
};

// "transformer.h.3.attn.c_attn" -> "transformer.h.3": the layer a module belongs to.
static std::string layer_of(const std::string& path) {
  std::string out;
  size_t start = 0;
  while (start <= path.size()) {
    const size_t dot = path.find('.', start);
    const std::string part = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    out += (out.empty() ? "" : ".") + part;
    if (!part.empty() && std::isdigit(static_cast<unsigned char>(part[0]))) return out;
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return path.empty() ? "(top level)" : out;
}

static void run_summary(SummaryArgs& o) {
  LOUPE_CHECK(!o.config.empty() || !o.ckpt.empty(), "summary: give --config FILE or --ckpt DIR");
  std::unique_ptr<tools::Checkpoint> ck;
  if (!o.ckpt.empty()) ck = std::make_unique<tools::Checkpoint>(tools::load_checkpoint(o.ckpt));
  const tools::RunConfig cfg = ck ? ck->config : tools::load_run_config(o.config, o.sets);
  // The model as training builds it (the training-memory line counts its dtype's bytes).
  auto model = models::build_model(
      tools::training_model_config(cfg, [&] { return tools::open_data(cfg.data).tokenizer->vocab_size(); }));
  if (ck) model->load_state_dict(ck->model_state);
  const int64_t B = o.batch, T = model->block_size();
  // What one training micro-batch of this size holds (train mode: dropout masks included).
  const double act_bytes = models::probe_activations(*model).bytes(B, T);
  const double state_bytes = models::training_state_bytes(*model);
  model->eval();

  std::map<std::string, Shape> module_shape;    // module path -> what its forward returned
  std::map<std::string, Shape> out_shape;       // else: the last output of an op inside it
  std::map<std::string, double> layer_bytes;    // layer -> forward output bytes
  double flops = 0;
  const int hook = add_op_hook([&](const OpEvent& ev) {
    if (ev.backward || ev.outputs.empty() || !ev.outputs[0] || !ev.outputs[0]->defined()) return;
    if (std::string_view(ev.op) == "module") {  // a module returned this: its output shape, exactly
      module_shape[ev.module] = ev.outputs[0]->shape();
      return;
    }
    for (size_t end = 0; end != std::string::npos;) {  // the module and every module around it
      end = ev.module.find('.', end + (end ? 1 : 0));
      out_shape[ev.module.substr(0, end)] = ev.outputs[0]->shape();
    }
    layer_bytes[layer_of(ev.module)] += double(ev.outputs[0]->numel() * int64_t(dtype_size(ev.outputs[0]->dtype())));
    flops += tools::op_flops(ev);
  });
  {
    NoGrad ng;
    model->forward(Tensor::from_ints(std::vector<int64_t>(size_t(B * T), 0), {B, T}));
  }
  remove_op_hook(hook);

  nlohmann::json rows = nlohmann::json::array();
  std::function<void(const nn::Module&, const std::string&, int)> walk = [&](const nn::Module& m, const std::string& path,
                                                                            int depth) {
    int64_t n = 0;
    for (auto& [name, p] : m.named_parameters()) n += p.numel();
    const auto& shapes = module_shape.count(path) ? module_shape : out_shape;
    const auto it = shapes.find(path);
    const bool known = it != shapes.end();
    rows.push_back({{"module", path.empty() ? "(model)" : path}, {"depth", depth}, {"parameters", n},
                    {"output", known ? nlohmann::json(it->second) : nlohmann::json(nullptr)}});
    for (auto& [name, child] : m.children()) walk(*child, path.empty() ? name : path + "." + name, depth + 1);
  };
  walk(*model, "", 0);
  const double per_token = flops / double(B * T);
  if (o.json) {
    std::printf("%s\n", nlohmann::json{{"modules", rows}, {"flops_per_token", per_token}, {"batch", B}, {"tokens", T},
                                       {"activation_bytes", layer_bytes},
                                       {"training_memory", {{"activation_bytes_per_micro_batch", act_bytes},
                                                            {"weights_grads_adamw_bytes", state_bytes}}}}
                            .dump(2)
                            .c_str());
    return;
  }
  std::printf("%-48s %12s  %s\n", "module", "parameters", "output (one batch)");
  for (auto& r : rows) {
    const std::string name = std::string(size_t(2 * r["depth"].get<int>()), ' ') + r["module"].get<std::string>();
    std::printf("%-48s %12lld  %s\n", name.c_str(), (long long)r["parameters"].get<int64_t>(),
                r["output"].is_null() ? "" : r["output"].dump().c_str());
  }
  std::printf("\n%lld parameters; forward %.3g FLOP per token (matmuls and attention, batch %lld x %lld tokens)\n",
              (long long)model->num_parameters(), per_token, (long long)B, (long long)T);
  std::printf("activation bytes per layer kept for backward (forward outputs, batch %lld):\n", (long long)B);
  for (auto& [layer, bytes] : layer_bytes) std::printf("  %-40s %12.0f\n", layer.c_str(), bytes);
  std::printf("training memory at batch %lld x %lld: about %.1f MiB of activations per micro-batch (forward + backward\n"
              "peak, measured on short probes) + %.1f MiB of weights, gradients and AdamW moments\n",
              (long long)B, (long long)T, act_bytes / 1048576.0, state_bytes / 1048576.0);
}

void register_summary(CLI::App& app) {
  auto o = std::make_shared<SummaryArgs>();
  auto* sub = app.add_subcommand("summary", "the module tree, parameters, output shapes, FLOPs per token, activation bytes");
  sub->add_option("--config,-c", o->config, "run config");
  sub->add_option("--set", o->sets, "override a config key: section.key=value");
  sub->add_option("--ckpt", o->ckpt, "a checkpoint directory instead");
  sub->add_option("--batch", o->batch, "batch size of the forward pass")->check(CLI::PositiveNumber);
  sub->add_flag("--json", o->json, "as JSON");
  actions().push_back({sub, [o] { run_summary(*o); }});
}

}  // namespace loupe::cli
