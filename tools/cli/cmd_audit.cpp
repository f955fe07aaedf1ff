// loupe audit shadow --config C | --ckpt DIR [--steps N] [--json]: where f32 loses precision
// (tools/audit/shadow.h): each op's f32 result against f64 from the same weights and batch, worst first.
// loupe audit diff A.jsonl B.jsonl [--tol REL] [--json] [--modules] [--html report.html]
// The first record where two traces (LOUPE_TRACE=...) part: its seq, step, pass, op, module and
// both records' statistics. Exit 0 when identical (or within --tol), 1 when they diverge, 2 on
// unusable input (the error names the file and line).
#include <cstdio>

#include "autograd/run_context.h"
#include "autograd/attention_probe.h"
#include "autograd/trace.h"
#include "tensor/error.h"
#include "tensor/file_io.h"
#include "tensor/npy.h"
#include "tools/audit/attention_plot.h"
#include "tools/audit/trace_diff.h"
#include "tools/train/checkpoint.h"
#include "tools/train/step.h"
#include "tools/train/run_config.h"
#include "tools/audit/shadow.h"
#include "tools/cli/commands.h"

namespace loupe::cli {

struct AuditDiffArgs {
  std::string a, b, html;
  double tol = -1;
  bool json = false, modules = false;
};

static void run_audit_diff(AuditDiffArgs& o) {
  tools::TraceDiff d;
  try {
    const tools::DiffOptions opt{o.tol, o.modules};
    if (o.html.empty()) d = tools::diff_traces(o.a, o.b, opt);
    else write_file_atomic(o.html, tools::diff_report_html(o.a, o.b, opt, d));
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
  // Bad ids are refused before the trace file is created: nothing is half-written.
  const nlohmann::json& mc = ck.config.model;
  const int64_t T = ids.size(1) - 1, V = mc.value("vocab_size", int64_t(0)), block = mc.value("block_size", int64_t(0));
  LOUPE_CHECK(T <= block, "audit trace: ", o.tokens, ": ", T, " input tokens per row, more than the model's block_size ", block);
  const int64_t* p = ids.data<int64_t>();
  for (int64_t i = 0; i < ids.numel(); ++i)
    LOUPE_CHECK(p[i] >= 0 && p[i] < V, "audit trace: ", o.tokens, ": token id ", p[i], " at position ", i,
                " is outside the vocabulary [0, ", V, ")");
  // The trace starts before the model is built, so it holds the model note (what diff checks).
  start_trace(TraceOptions{o.out, o.dump, TraceFilter::from_env()});
  struct Stop {
    ~Stop() { stop_trace(); }
  } stop;
  const auto model = tools::model_from_checkpoint(ck);
  set_step(ck.config.train.seed, ck.step);
  model->eval();
  const Tensor x = ids.narrow(1, 0, T).contiguous(), y = ids.narrow(1, 1, T).contiguous();
  Var loss = model->loss(x, y);
  loss.backward();
  std::printf("traced one forward and backward pass of %s (%lld x %lld tokens) into %s; loss %.6f\n",
              ck.config.model.value("type", "?").c_str(), (long long)ids.size(0), (long long)T, o.out.c_str(),
              loss.item());
}

// loupe audit attention --ckpt DIR --prompt TEXT -o attn.svg
// The attention weights of every layer and head for the prompt (autograd/attention_probe.h), as
// a grid of heatmaps with the tokens on the axes (tools/audit/attention_plot.h).
struct AuditAttentionArgs {
  std::string ckpt, prompt, out;
};

static void run_audit_attention(AuditAttentionArgs& o) {
  const auto ck = tools::load_checkpoint(o.ckpt);
  const auto model = tools::model_from_checkpoint(ck);
  const std::vector<int32_t> ids = ck.tokenizer->encode(o.prompt);
  LOUPE_CHECK(!ids.empty(), "audit attention: the prompt encodes to no tokens");
  constexpr size_t kMaxTokens = 128;  // beyond this the heatmaps' cells are too small to read
  LOUPE_CHECK(ids.size() <= size_t(model->block_size()) && ids.size() <= kMaxTokens, "audit attention: the prompt is ",
              ids.size(), " tokens; at most ", std::min<int64_t>(model->block_size(), int64_t(kMaxTokens)),
              " fit (the model's block_size, and ", kMaxTokens, " for a readable picture)");
  std::vector<int64_t> wide(ids.begin(), ids.end());
  std::vector<std::string> tokens;
  for (int32_t id : ids) tokens.push_back(ck.tokenizer->decode({id}));
  model->eval();
  AttentionProbe probe;
  {
    NoGrad ng;
    model->forward(Tensor::from_ints(wide, {1, int64_t(ids.size())}));
  }
  const std::string type = ck.config.model.value("type", "?");
  LOUPE_CHECK(!probe.maps().empty(), "audit attention: this ", type, " model reported no attention weights");
  write_file_atomic(o.out, tools::attention_svg(probe.maps(), tokens,
                                                "attention of " + type + " (" + o.ckpt + ", step " + std::to_string(ck.step) +
                                                    ") on " + std::to_string(ids.size()) + " tokens"));
  int64_t heads = 0;
  for (auto& m : probe.maps()) heads += m.probs.size(1);
  std::printf("wrote %zu attention maps (%lld heatmaps) over %zu tokens to %s\n", probe.maps().size(), (long long)heads,
              ids.size(), o.out.c_str());
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
  const tools::RunConfig cfg = ck ? ck->config : tools::load_run_config(o.config, o.sets);
  const auto r = tools::shadow_f64(cfg, ck.get(), o.steps);
  if (o.json) std::printf("%s\n", r.to_json(size_t(o.top)).dump().c_str());
  else std::printf("%s", r.table(size_t(o.top)).c_str());
}

void register_audit(CLI::App& app) {
  auto* audit = app.add_subcommand("audit", "where two runs part (diff), a traced pass on given tokens (trace), where f32 loses precision (shadow), attention maps (attention)");
  audit->require_subcommand(1);
  auto o = std::make_shared<AuditDiffArgs>();
  auto* diff = audit->add_subcommand("diff", "the first op where two traces differ (exit 0 same, 1 differ, 2 bad input)");
  diff->add_option("a", o->a, "first trace (JSONL)")->required();
  diff->add_option("b", o->b, "second trace (JSONL)")->required();
  diff->add_option("--tol", o->tol, "compare statistics within this relative tolerance instead of bits");
  diff->add_flag("--json", o->json, "one JSON object");
  diff->add_option("--html", o->html, "also write the two traces side by side, aligned, as a self-contained HTML page");
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

  auto at = std::make_shared<AuditAttentionArgs>();
  auto* attn = audit->add_subcommand("attention", "the attention weights of every layer and head for a prompt, as SVG heatmaps");
  attn->add_option("--ckpt", at->ckpt, "checkpoint directory")->required();
  attn->add_option("--prompt", at->prompt, "text to run the model on")->required();
  attn->add_option("-o,--out", at->out, "SVG file to write")->required();
  actions().push_back({attn, [at] { run_audit_attention(*at); }});

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
