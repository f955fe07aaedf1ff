#include "autograd/attention_probe.h"

#include "autograd/run_context.h"
#include "tensor/error.h"

namespace loupe {

static thread_local AttentionProbe* g_probe = nullptr;

AttentionProbe::AttentionProbe() : outer_(g_probe) { g_probe = this; }
AttentionProbe::~AttentionProbe() { g_probe = outer_; }

bool attention_probe_active() { return g_probe != nullptr; }

void report_attention(Tensor probs) {
  if (!g_probe) return;
  LOUPE_CHECK(probs.dim() == 4, "report_attention: expected probabilities [B, H, Tq, Tk], got ", probs.str());
  g_probe->maps_.push_back({current_module_path(), probs.to(DType::F64).contiguous()});
}

}  // namespace loupe
