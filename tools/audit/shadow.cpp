#include "tools/audit/shadow.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <sstream>
#include <string_view>

#include "autograd/run_context.h"
#include "tools/train/run_data.h"
#include "tools/train/step.h"

namespace loupe::tools {

using nlohmann::json;

namespace {

struct Event {
  std::string op, pass, module;
  int64_t step;
  std::vector<Tensor> outputs;  // f64 copies
};

// Records every op event's outputs (as f64) while alive.
struct Capture {
  std::vector<Event> events;
  int hook;
  Capture() {
    hook = add_op_hook([this](const OpEvent& ev) {
      if (std::string_view(ev.op) == "module") return;  // a module's output is its last op's, already paired
      Event e{ev.op, ev.backward ? "backward" : "forward", ev.module, current_step(), {}};
      for (auto* t : ev.outputs)
        // A copy, never a view: an output may alias a parameter the optimizer updates later.
        e.outputs.push_back(!t || !t->defined() || !is_floating(t->dtype()) ? Tensor()
                            : t->dtype() == DType::F64                      ? t->clone()
                                                                            : t->to(DType::F64).contiguous());
      events.push_back(std::move(e));
    });
  }
  ~Capture() { remove_op_hook(hook); }
};

double rel_error(const Tensor& a, const Tensor& b) {
  if (!a.defined() || !b.defined() || a.numel() == 0) return 0;
  const double *pa = a.data<double>(), *pb = b.data<double>();
  double diff = 0, scale = 0;
  for (int64_t i = 0; i < a.numel(); ++i) diff = std::max(diff, std::abs(pa[i] - pb[i])), scale = std::max(scale, std::abs(pb[i]));
  return diff / std::max(scale, 1e-300);
}

// The run's own training steps start .. start + steps - 1 (step.h: its schedule, clipping and
// accumulation), recording losses and gradient norms.
void run_steps(models::LanguageModel& model, const TrainConfig& config, const text::TokenDataset& ds, int64_t start,
               int64_t steps, std::vector<double>& loss, std::vector<double>& gnorm) {
  TrainingStep step(model, config, ds);
  for (int64_t it = start; it < start + steps; ++it) {
    const auto r = step.run(it, true);
    loss.push_back(r.loss);
    gnorm.push_back(r.grad_norm);
  }
}

}  // namespace

ShadowReport shadow_f64(const RunConfig& cfg_in, const Checkpoint* ck, int64_t steps) {
  LOUPE_CHECK(steps >= 1, "audit shadow: --steps must be >= 1");
  const RunConfig& cfg = ck ? ck->config : cfg_in;
  Data data = open_data(cfg.data, ck ? ck->tokenizer.get() : nullptr);
  json m32 = cfg.model;
  if (!m32.contains("vocab_size")) m32["vocab_size"] = data.tokenizer->vocab_size();
  m32["dtype"] = "f32";
  json m64 = m32;
  m64["dtype"] = "f64";
  auto a = models::build_model(m32), b = models::build_model(m64);
  if (ck) a->load_state_dict(ck->model_state);
  b->load_state_dict(a->state_dict());  // the same weights, cast up
  data.dataset->check_block(a->block_size());
  const int64_t start = ck ? ck->step : 0;  // a checkpoint's run goes on from where it stopped

  ShadowReport r;
  std::vector<Event> ev32, ev64;
  {
    Capture c;
    run_steps(*a, cfg.train, *data.dataset, start, steps, r.loss32, r.gnorm32);
    ev32 = std::move(c.events);
  }
  {
    Capture c;
    run_steps(*b, cfg.train, *data.dataset, start, steps, r.loss64, r.gnorm64);
    ev64 = std::move(c.events);
  }
  LOUPE_CHECK(ev32.size() == ev64.size(), "audit shadow: the f32 and f64 runs executed different ops (", ev32.size(),
              " vs ", ev64.size(), " events)");
  std::map<std::string, std::vector<double>> kinds;
  for (size_t i = 0; i < ev32.size(); ++i) {
    const Event &x = ev32[i], &y = ev64[i];
    LOUPE_CHECK(x.op == y.op && x.pass == y.pass, "audit shadow: op ", i, " is ", x.op, " in f32 but ", y.op, " in f64");
    ShadowOp o{int64_t(i), x.step, x.pass, x.op, x.module, 0};
    for (size_t k = 0; k < x.outputs.size() && k < y.outputs.size(); ++k) o.rel = std::max(o.rel, rel_error(x.outputs[k], y.outputs[k]));
    kinds[x.op + " (" + x.pass + ")"].push_back(o.rel);
    r.ops.push_back(o);
  }
  std::stable_sort(r.ops.begin(), r.ops.end(), [](const ShadowOp& p, const ShadowOp& q) { return p.rel > q.rel; });
  for (auto& [k, v] : kinds) {
    std::sort(v.begin(), v.end());
    r.by_kind[k] = {int64_t(v.size()), v.back(), v[v.size() / 2]};
  }
  return r;
}

std::string ShadowReport::table(size_t top) const {
  std::ostringstream o;
  char buf[256];
  o << "worst ops (relative error of the f32 result against f64, max |f32 - f64| / max |f64|):\n";
  std::snprintf(buf, sizeof buf, "  %4s  %9s  %4s  %-8s  %-18s  %s\n", "rank", "error", "step", "pass", "op", "module");
  o << buf;
  for (size_t i = 0; i < std::min(top, ops.size()); ++i) {
    const auto& x = ops[i];
    std::snprintf(buf, sizeof buf, "  %4zu  %9.2e  %4lld  %-8s  %-18s  %s\n", i + 1, x.rel, (long long)x.step, x.pass.c_str(),
                  x.op.c_str(), x.module.empty() ? "(top level)" : x.module.c_str());
    o << buf;
  }
  o << "by op (events, worst, median):\n";
  std::vector<std::pair<std::string, Kind>> kinds(by_kind.begin(), by_kind.end());
  std::sort(kinds.begin(), kinds.end(), [](auto& p, auto& q) { return p.second.worst > q.second.worst; });
  for (auto& [k, v] : kinds) {
    std::snprintf(buf, sizeof buf, "  %-30s %5lld  %9.2e  %9.2e\n", k.c_str(), (long long)v.count, v.worst, v.median);
    o << buf;
  }
  for (size_t s = 0; s < loss32.size(); ++s) {
    std::snprintf(buf, sizeof buf, "step %zu: loss f32 %.9g, f64 %.9g (diff %.2e); grad norm f32 %.9g, f64 %.9g (rel %.2e)\n", s,
                  loss32[s], loss64[s], std::abs(loss32[s] - loss64[s]), gnorm32[s], gnorm64[s],
                  std::abs(gnorm32[s] - gnorm64[s]) / std::max(gnorm64[s], 1e-300));
    o << buf;
  }
  return o.str();
}

json ShadowReport::to_json(size_t top) const {
  json j = {{"ops", json::array()}, {"by_op", json::object()}, {"loss_f32", loss32}, {"loss_f64", loss64},
            {"grad_norm_f32", gnorm32}, {"grad_norm_f64", gnorm64}};
  for (size_t i = 0; i < std::min(top, ops.size()); ++i)
    j["ops"].push_back({{"index", ops[i].index}, {"step", ops[i].step}, {"pass", ops[i].pass}, {"op", ops[i].op},
                        {"module", ops[i].module}, {"rel", ops[i].rel}});
  for (auto& [k, v] : by_kind) j["by_op"][k] = {{"count", v.count}, {"worst", v.worst}, {"median", v.median}};
  return j;
}

}  // namespace loupe::tools
