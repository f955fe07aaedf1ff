// loupe audit diff A.jsonl B.jsonl [--tol REL] [--json]
// The first record where two traces (LOUPE_TRACE=...) part: its seq, step, pass, op, module and
// both records' statistics. Exit 0 when identical (or within --tol), 1 when they diverge, 2 on
// unusable input (the error names the file and line).
#include <cstdio>

#include "tensor/error.h"
#include "tools/audit.h"
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
  } catch (const Error& e) {
    std::fprintf(stderr, "loupe: error: %s\n", e.what());
    exit_code() = 2;
    return;
  }
  if (o.json) std::printf("%s\n", d.to_json().dump().c_str());
  else std::printf("%s\n", d.summary().c_str());
  exit_code() = d.kind == tools::TraceDiff::Identical ? 0 : 1;
}

void register_audit(CLI::App& app) {
  auto* audit = app.add_subcommand("audit", "inspect traces: where two runs part");
  audit->require_subcommand(1);
  auto o = std::make_shared<AuditDiffArgs>();
  auto* diff = audit->add_subcommand("diff", "the first op where two traces differ (exit 0 same, 1 differ, 2 bad input)");
  diff->add_option("a", o->a, "first trace (JSONL)")->required();
  diff->add_option("b", o->b, "second trace (JSONL)")->required();
  diff->add_option("--tol", o->tol, "compare statistics within this relative tolerance instead of bits");
  diff->add_flag("--json", o->json, "one JSON object");
  actions().push_back({diff, [o] { run_audit_diff(*o); }});
}

}  // namespace loupe::cli
