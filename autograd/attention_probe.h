// Attention maps, for pictures of what a model computes (`loupe audit attention`). While an
// AttentionProbe is alive on this thread, every attention reports its probabilities
//   P [B, H, Tq, Tk] (f64): row i holds the weights query i gives each key, 0 where masked,
// tagged with the path of the module that ran it. causal_attention reports by itself (from its
// textbook twin, tensor/reference/attention.h); attentions written in other ops (ELiTA's
// Attention2, Wiola's ATM) report the equivalent matrix over the tokens. Without a probe,
// report_attention is never reached: the ops test attention_probe_active() first.
#pragma once
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace loupe {

struct AttentionMap {
  std::string module;  // e.g. "transformer.h.1.attn"
  Tensor probs;        // f64 [B, H, Tq, Tk]
};

class AttentionProbe {
 public:
  AttentionProbe();
  ~AttentionProbe();
  AttentionProbe(const AttentionProbe&) = delete;
  AttentionProbe& operator=(const AttentionProbe&) = delete;
  const std::vector<AttentionMap>& maps() const { return maps_; }

 private:
  friend void report_attention(Tensor probs);
  std::vector<AttentionMap> maps_;
  AttentionProbe* outer_;
};

bool attention_probe_active();
void report_attention(Tensor probs);  // adds a map under the current module path

}  // namespace loupe
