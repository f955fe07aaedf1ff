// loupe audit shadow --config C | --ckpt DIR [--steps N] [--json]: where f32 loses precision
// (tools/shadow.h): each op's f32 result against f64 from the same weights and batch, worst first.
// loupe audit diff A.jsonl B.jsonl [--tol REL] [--json]
// The first record where two traces (LOUPE_TRACE=...) part: its seq, step, pass, op, module and
// both records' statistics. Exit 0 when identical (or within --tol), 1 when they diverge, 2 on
// unusable input (the error names the file and line).
#include <cstdio>

#include "autograd/run_context.h"
#include "autograd/trace.h"
#include "tensor/error.h"
#include "tensor/npy.h"
#include "tools/audit.h"
#include "tools/checkpoint.h"
#include "tools/trainer.h"
#include "tools/run_config.h"
#include "tools/shadow.h"
#include "tools/commands.h"

namespace loupe::cli {

struct AuditDiffArgs {
  std::string a, b;
  double tol = -1;
  bool json = false, modules = false;
};

static void run_audit_diff(AuditDiffArgs& o) {
  tools::TraceDiff d;
  try {
    d = tools::diff_traces(o.a, o.b, tools::DiffOptions{o.tol, o.modules});
  } catch (const std::exception& e) {  // unusable input: a missing file, a damaged line, another model
    std::fprintf(stderr, "loupe: error: %s\n", e.what());
    exit_code() = 2;
    return;
  }
  if (o.json) std::printf("%s\n", d.to_json().dump().c_str());
  else std::printf("%s\n", d.summary().c_str());
  exit_code() = d.kind == tools::TraceDiff::Identical ? 0 : 1;
}

// loupe audit trace --ckpt DIR --tokens ids.npy -o trace.jsonl [--dump DIR]
// One forward pass (eval mode: no dropout), the next-token loss and its backward, on the token ids
// of an .npy file (i64 or i32 [B, T+1]: inputs are [:, :T], targets [:, 1:]), traced. The same
// weights and ids given to tools/reference/torch_trace.py give PyTorch's trace of that pass.
struct AuditTraceArgs {
  std::string ckpt, tokens, out, dump;
};

static void run_audit_trace(AuditTraceArgs& o) {
  Tensor ids = load_npy(o.tokens);
  LOUPE_CHECK(ids.dtype() == DType::I64 && ids.dim() == 2 && ids.size(1) >= 2, "audit trace: ", o.tokens,
              ": expected integer token ids of shape [B, T+1], got ", dtype_name(ids.dtype()), " ", shape_str(ids.shape()));
  const auto ck = tools::load_checkpoint(o.ckpt);
  // The trace starts before the model is built, so it holds the model note (what diff checks).
  start_trace(TraceOptions{o.out, o.dump, TraceFilter::from_env()});
  struct Stop {
    ~Stop() { stop_trace(); }
  } stop;
  const auto model = tools::model_from_checkpoint(ck);
  const int64_t T = ids.size(1) - 1, V = model->vocab_size();
  LOUPE_CHECK(T <= model->block_size(), "audit trace: ", o.tokens, ": ", T, " input tokens per row, more than the model's block_size ",
              model->block_size());
  const int64_t* p = ids.data<int64_t>();
  for (int64_t i = 0; i < ids.numel(); ++i)
    LOUPE_CHECK(p[i] >= 0 && p[i] < V, "audit trace: ", o.tokens, ": token id ", p[i], " at position ", i,
                " is outside the vocabulary [0, ", V, ")");
  set_step(ck.config.value("train", nlohmann::json::object()).value("seed", uint64_t(0)), ck.step);
  model->eval();
  const Tensor x = ids.narrow(1, 0, T).contiguous(), y = ids.narrow(1, 1, T).contiguous();
  Var loss = tools::lm_loss(model->forward(x), y);
  loss.backward();
  std::printf("traced one forward and backward pass of %s (%lld x %lld tokens) into %s; loss %.6f\n",
              ck.config["model"].value("type", "?").c_str(), (long long)ids.size(0), (long long)T, o.out.c_str(),
              loss.item());
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
  auto* audit = app.add_subcommand("audit", "where two runs part (diff), a traced pass on given tokens (trace), where f32 loses precision (shadow)");
  audit->require_subcommand(1);
  auto o = std::make_shared<AuditDiffArgs>();
  auto* diff = audit->add_subcommand("diff", "the first op where two traces differ (exit 0 same, 1 differ, 2 bad input)");
  diff->add_option("a", o->a, "first trace (JSONL)")->required();
  diff->add_option("b", o->b, "second trace (JSONL)")->required();
  diff->add_option("--tol", o->tol, "compare statistics within this relative tolerance instead of bits");
  diff->add_flag("--json", o->json, "one JSON object");
  diff->add_flag("--modules", o->modules,
                 "compare module outputs only, paired by module path (e.g. against tools/reference/torch_trace.py)");
  actions().push_back({diff, [o] { run_audit_diff(*o); }});

  auto t = std::make_shared<AuditTraceArgs>();
  auto* trace = audit->add_subcommand("trace", "trace one forward and backward pass of a checkpoint on given token ids");
  trace->add_option("--ckpt", t->ckpt, "checkpoint directory")->required();
  trace->add_option("--tokens", t->tokens, ".npy of token ids [B, T+1] (inputs and next-token targets)")->required();
  trace->add_option("-o,--out", t->out, "trace file to write (JSONL)")->required();
  trace->add_option("--dump", t->dump, "also write every traced tensor as .npy into this directory");
  actions().push_back({trace, [t] { run_audit_trace(*t); }});

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
