// `loupe explore`: one real training step as a page of numbers. The run's own step
// (tools/train/step.h: its batch, schedule, clipping and optimizer) runs once with every op
// event recorded, and the record becomes one self-contained HTML file (tools/audit/page/).
//
// What the record holds (explore_step's JSON, the page's only data):
//   "run":       model type and config, the step, lr, loss, gradient norm, clip coefficient
//   "modules":   the module tree: every path (parameters' and ops'), its parameters and counts
//   "ops":       every op event in execution order — forward, then backward, then one
//                "optimizer" event per parameter — each with its inputs and outputs
//                (tools/audit/tensor_summary.h). A forward input made by an earlier op points at
//                it ("from") instead of repeating its picture; a parameter input names the
//                parameter. A backward event points at its forward ("forward"): its input is the
//                gradient arriving at the op's output, its outputs the gradients of its inputs.
//                With the f64 shadow on, "shadow" is the op's f32 error against f64.
//   "params":    per parameter: its value, gradient (before clipping), the optimizer's update
//                (w_after − w_before) and the ratio rms(update) / rms(w), the page ranks them
//   "attention": every attention map of the step's batch row 0 (eval mode: no dropout), with
//                the row's tokens for the axes (autograd/attention_probe.h)
//   "notes":     each op's equation and sources (tools/audit/op_notes.h)
#pragma once
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tools/train/run_config.h"

namespace loupe::tools {

struct ExploreOptions {
  std::string config;             // a run config (the model starts from its initial weights) ...
  std::vector<std::string> sets;  // ... with --set overrides
  std::optional<RunConfig> run;   // ... or a run config already read (the Python API's dict)
  std::string ckpt;               // ... or a checkpoint: its weights, optimizer state and next step
  int64_t step = 0;               // with a config: train steps 0 .. step − 1 first (not recorded)
  bool shadow = false;            // also run the step in f64 and give each op its f32 error
  bool allow_other_data = false;  // a checkpoint's data may differ from what it trained on
};

nlohmann::json explore_step(const ExploreOptions& opt);

// The page: tools/audit/page/explore.html with the record inside.
std::string explore_page(const nlohmann::json& record);

}  // namespace loupe::tools
