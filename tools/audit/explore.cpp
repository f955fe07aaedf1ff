#include "tools/audit/explore.h"

#include <chrono>
#include <cmath>
#include <map>
#include <set>

#include "autograd/attention_probe.h"
#include "autograd/var.h"
#include "tensor/ops.h"
#include "tools/audit/attention_plot.h"
#include "tools/audit/html_page.h"
#include "tools/audit/op_notes.h"
#include "tools/audit/shadow.h"
#include "tools/audit/tensor_summary.h"
#include "tools/train/run_data.h"
#include "tools/train/step.h"

namespace loupe::tools {

using nlohmann::json;

namespace {

std::string parent_path(const std::string& name) {
  const auto dot = name.rfind('.');
  return dot == std::string::npos ? "" : name.substr(0, dot);
}

// Records every op event of the step (module events aside) as the page shows it.
struct Recorder {
  json ops = json::array();
  std::map<uint64_t, int64_t> index_of;          // event id -> place in ops
  std::map<const void*, std::string> param_of;   // a parameter's data -> its name
  int hook;

  explicit Recorder(const models::LanguageModel& model) {
    for (auto& [name, p] : model.named_parameters()) param_of[p.value().raw_data()] = name;
    hook = add_op_hook([this](const OpEvent& ev) { record(ev); });
  }
  ~Recorder() { remove_op_hook(hook); }

  json input(const OpEvent& ev, size_t k) const {
    const Tensor* t = ev.inputs[k];
    const uint64_t from = k < ev.from.size() ? ev.from[k] : 0;
    if (!t || !t->defined()) return nullptr;
    if (from > 0 && index_of.count(from - 1))  // made by an earlier op: the page shows its output
      return {{"from", index_of.at(from - 1)}, {"shape", t->shape()}, {"dtype", dtype_name(t->dtype())}};
    json j = summarize_tensor(*t);
    const auto p = param_of.find(t->raw_data());
    if (p != param_of.end()) j["param"] = p->second;
    return j;
  }

  void record(const OpEvent& ev) {
    if (std::string_view(ev.op) == "module") return;
    json o = {{"op", ev.op}, {"pass", ev.backward ? "backward" : "forward"}, {"module", ev.module},
              {"inputs", json::array()}, {"outputs", json::array()}};
    if (ev.backward) {
      if (!ev.from.empty() && ev.from[0] > 0 && index_of.count(ev.from[0] - 1)) {
        const int64_t f = index_of.at(ev.from[0] - 1);
        o["forward"] = f;
        ops[size_t(f)]["backward"] = int64_t(ops.size());
      }
      for (auto* t : ev.inputs) o["inputs"].push_back(t ? summarize_tensor(*t) : json());
    } else {
      for (size_t k = 0; k < ev.inputs.size(); ++k) o["inputs"].push_back(input(ev, k));
    }
    for (auto* t : ev.outputs) o["outputs"].push_back(t ? summarize_tensor(*t) : json());
    index_of[ev.id] = int64_t(ops.size());
    ops.push_back(std::move(o));
  }
};

// The module tree: every path that holds a parameter or ran an op, with each path's ancestors.
json module_tree(const json& params, const json& ops) {
  std::map<std::string, json> mods;
  auto add = [&](std::string path) {
    while (true) {
      if (!mods.count(path)) mods[path] = {{"path", path}, {"params", json::array()}, {"count", 0}};
      if (path.empty()) return;
      path = parent_path(path);
    }
  };
  add("");
  for (size_t i = 0; i < params.size(); ++i) {
    const std::string owner = parent_path(params[i]["name"]);
    add(owner);
    mods[owner]["params"].push_back(i);
    const int64_t n = params[i]["numel"];
    for (std::string p = owner;; p = parent_path(p)) {  // counted in every ancestor
      mods[p]["count"] = mods[p]["count"].get<int64_t>() + n;
      if (p.empty()) break;
    }
  }
  for (auto& o : ops) add(o["module"]);
  json out = json::array();
  for (auto& [path, m] : mods) out.push_back(m);
  return out;
}

// Attention maps of batch row 0 of the step's first micro-batch, the model in eval mode, outside
// the record (PauseOpHooks: no event, no event id) and before the step changes the weights.
json attention(models::LanguageModel& model, const Tensor& x, const text::Tokenizer& tok) {
  const Tensor row = x.narrow(0, 0, 1).contiguous();
  AttentionProbe probe;
  {
    PauseOpHooks pause;
    NoGrad ng;
    model.eval();
    model.forward(row);
    model.train();
  }
  json tokens = json::array();
  for (int64_t t = 0; t < row.size(1); ++t) tokens.push_back(token_text(tok.decode({int32_t(row.at({0, t}))})));
  json maps = json::array();
  for (auto& m : probe.maps()) {
    const Tensor p = m.probs.select(0, 0).contiguous();  // [H, Tq, Tk]
    std::vector<uint8_t> q(size_t(p.numel()));
    for (int64_t i = 0; i < p.numel(); ++i)
      q[size_t(i)] = uint8_t(std::lround(std::clamp(p.data<double>()[i], 0.0, 1.0) * 255.0));
    maps.push_back({{"module", m.module}, {"heads", p.size(0)}, {"rows", p.size(1)}, {"cols", p.size(2)}, {"q", base64(q)}});
  }
  return {{"tokens", tokens}, {"maps", maps}};
}

// Each parameter's update (w after the step − w before) and its ratio to the weight, into
// params; one optimizer event per parameter, after the backward, into ops.
void add_updates(const std::vector<optim::Optimizer::Entry>& entries, const std::vector<Tensor>& before,
                 const std::string& optimizer, json& params, json& ops) {
  for (size_t i = 0; i < entries.size(); ++i) {
    params[i]["value"] = summarize_tensor(before[i]);
    params[i]["update"] = summarize_tensor(sub(entries[i].param.value().to(DType::F64), before[i].to(DType::F64)));
    params[i]["ratio"] = params[i]["update"]["rms"].get<double>() / std::max(params[i]["value"]["rms"].get<double>(), 1e-300);
    params[i]["lr_scale"] = entries[i].lr_scale, params[i]["weight_decay"] = entries[i].weight_decay;
    ops.push_back({{"op", optimizer}, {"pass", "optimizer"}, {"module", parent_path(entries[i].name)}, {"param", i},
                   {"inputs", json::array()}, {"outputs", json::array()}});
  }
}

}  // namespace

json explore_step(const ExploreOptions& opt) {
  LOUPE_CHECK((opt.config.empty() && !opt.run) != opt.ckpt.empty(), "explore: give --config FILE or --ckpt DIR (one of them)");
  LOUPE_CHECK(opt.ckpt.empty() || opt.step == 0, "explore: --step goes with --config; a checkpoint explores the step it would take next");
  LOUPE_CHECK(opt.step >= 0, "explore: --step must be >= 0");
  const auto t0 = std::chrono::steady_clock::now();
  std::unique_ptr<Checkpoint> ck;
  if (!opt.ckpt.empty()) ck = std::make_unique<Checkpoint>(load_checkpoint(opt.ckpt));
  RunConfig cfg = ck ? ck->config : opt.run ? *opt.run : load_run_config(opt.config, opt.sets);
  Data data = ck ? open_checkpoint_data(*ck, opt.ckpt, opt.allow_other_data) : open_data(cfg.data);
  std::shared_ptr<models::LanguageModel> model =
      ck ? model_from_checkpoint(*ck) : models::build_model(training_model_config(cfg, [&] { return data.tokenizer->vocab_size(); }));
  cfg.model = model->config();
  data.dataset->check_block(model->block_size());
  TrainingStep step(*model, cfg.train, *data.dataset);
  int64_t it = 0;
  if (ck) step.optimizer().load_state_dict(ck->optim_state), it = ck->step;
  for (; it < opt.step; ++it) step.run(it, false);  // to the weights of step `opt.step`, unrecorded

  json record = {{"notes", op_notes_json()}};
  Tensor x, y;
  training_batch(*data.dataset, cfg.train.seed, step.rows(), model->block_size(), it, step.micro_per_step(), 0, x, y);
  record["attention"] = attention(*model, x, *data.tokenizer);

  std::map<int64_t, double> shadow;  // op index -> f32 error against f64
  if (opt.shadow) {
    Checkpoint here;  // the weights about to be stepped (the shadow's optimizer starts fresh: no op reads it)
    here.config = cfg, here.step = it;
    for (auto& [k, v] : model->state_dict()) here.model_state[k] = v.clone();
    for (auto& o : shadow_f64(cfg, &here, 1).ops) shadow[o.index] = o.rel;
  }

  // The step, recorded; the gradients and weights read just before the optimizer's update.
  const auto& entries = step.optimizer().entries();
  std::vector<Tensor> before(entries.size());
  json params = json::array();
  double clip = 1;
  step.set_before_update([&](double c) {
    clip = c;
    for (size_t i = 0; i < entries.size(); ++i) {
      before[i] = entries[i].param.value().clone();
      params.push_back({{"name", entries[i].name}, {"numel", entries[i].param.numel()},
                        {"grad", summarize_tensor(entries[i].param.grad())}});
    }
  });
  Recorder rec(*model);
  const auto r = step.run(it, true);
  json ops = std::move(rec.ops);
  LOUPE_CHECK(shadow.empty() || int64_t(shadow.size()) == int64_t(ops.size()), "explore: the f64 shadow ran ",
              shadow.size(), " ops, the step ", ops.size());
  for (auto& [i, rel] : shadow) ops[size_t(i)]["shadow"] = rel;
  add_updates(entries, before, cfg.to_json()["train"].value("optimizer", "adamw"), params, ops);
  record["modules"] = module_tree(params, ops);
  record["params"] = std::move(params);
  record["ops"] = std::move(ops);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const std::string type = cfg.model.value("type", "?");
  record["run"] = {{"type", type}, {"model", cfg.model}, {"train", cfg.to_json()["train"]}, {"step", it},
                   {"lr", r.lr}, {"loss", r.loss}, {"grad_norm", r.grad_norm}, {"clip", clip},
                   {"batch", x.shape()}, {"micro_batches", step.micro_per_step()}, {"parameters", model->num_parameters()},
                   {"source", ck ? "checkpoint " + opt.ckpt : opt.run ? std::string("a run config") : "config " + opt.config},
                   {"seconds", seconds},
                   {"docs", "docs/models/" + type + ".md"}, {"shadow", opt.shadow},
                   {"source_root", std::string("file://") + LOUPE_SOURCE_DIR}};
  return record;
}

std::string explore_page(const json& record) { return render_page(Page::Explore, record); }

}  // namespace loupe::tools
