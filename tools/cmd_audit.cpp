// loupe audit shadow --config C | --ckpt DIR [--steps N] [--json]: where f32 loses precision
// (tools/shadow.h): each op's f32 result against f64 from the same weights and batch, worst first.
// loupe audit diff A.jsonl B.jsonl [--tol REL] [--json]
// The first record where two traces (LOUPE_TRACE=...) part: its seq, step, pass, op, module and
// both records' statistics. Exit 0 when identical (or within --tol), 1 when they diverge, 2 on
// unusable input (the error names the file and line).
#include <cstdio>

#include "tensor/error.h"
#include "tools/audit.h"
#include "tools/run_config.h"
#include "tools/shadow.h"
#include "tools/commands.h"

namespace loupe::cli {

struct AuditDiffArgs {
  std::string a, b;
  double tol = -1;
  bool json = false;
};

static void run_audit_diff(AuditDiffArgs& o) {
  tools::TraceDiff d;
  try {
    d = tools::diff_traces(o.a, o.b, o.tol);
  } catch (const std::exception& e) {  // unusable input: a missing file, a damaged line, another model
    std::fprintf(stderr, "loupe: error: %s\n", e.what());
    exit_code() = 2;
    return;
  }
  if (o.json) std::printf("%s\n", d.to_json().dump().c_str());
  else std::printf("%s\n", d.summary().c_str());
  exit_code() = d.kind == tools::TraceDiff::Identical ? 0 : 1;
}

struct AuditShadowArgs {
  std::string config, ckpt;
  std::vector<std::string> sets;
  int64_t steps = 1, top = 15;
  bool json = false;
};

static void run_audit_shadow(AuditShadowArgs& o) {
  LOUPE_CHECK(!o.config.empty() || !o.ckpt.empty(), "audit shadow: give --config FILE or --ckpt DIR");
  std::unique_ptr<tools::Checkpoint> ck;
  if (!o.ckpt.empty()) ck = std::make_unique<tools::Checkpoint>(tools::load_checkpoint(o.ckpt));
  const nlohmann::json cfg = ck ? ck->config : tools::load_run_config(o.config, o.sets);
  const auto r = tools::shadow_f64(cfg, ck.get(), o.steps);
  if (o.json) std::printf("%s\n", r.to_json(size_t(o.top)).dump().c_str());
  else std::printf("%s", r.table(size_t(o.top)).c_str());
}

void register_audit(CLI::App& app) {
  auto* audit = app.add_subcommand("audit", "where two runs part (diff), where f32 loses precision (shadow)");
  audit->require_subcommand(1);
  auto o = std::make_shared<AuditDiffArgs>();
  auto* diff = audit->add_subcommand("diff", "the first op where two traces differ (exit 0 same, 1 differ, 2 bad input)");
  diff->add_option("a", o->a, "first trace (JSONL)")->required();
  diff->add_option("b", o->b, "second trace (JSONL)")->required();
  diff->add_option("--tol", o->tol, "compare statistics within this relative tolerance instead of bits");
  diff->add_flag("--json", o->json, "one JSON object");
  actions().push_back({diff, [o] { run_audit_diff(*o); }});

  auto s = std::make_shared<AuditShadowArgs>();
  auto* shadow = audit->add_subcommand("shadow", "run training steps in f32 and in f64: each op's error, worst first");
  shadow->add_option("--config,-c", s->config, "run config (the model starts from its initial weights)");
  shadow->add_option("--set", s->sets, "override a config key: section.key=value");
  shadow->add_option("--ckpt", s->ckpt, "start from a checkpoint's weights instead");
  shadow->add_option("--steps", s->steps, "training steps to compare")->check(CLI::PositiveNumber);
  shadow->add_option("--top", s->top, "rows of the worst-ops table")->check(CLI::PositiveNumber);
  shadow->add_flag("--json", s->json, "one JSON object");
  actions().push_back({shadow, [s] { run_audit_shadow(*s); }});
}

}  // namespace loupe::cli
