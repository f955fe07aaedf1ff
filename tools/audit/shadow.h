// `loupe audit shadow`: where f32 loses precision in a model. The run's own training steps
// (tools/train/step.h: schedule, clipping, accumulation; from step 0, or from a checkpoint's step
// with a fresh optimizer) run twice from the same weights and batches: in f32, and in f64 (the
// weights cast up). Their op events
// pair one to one (same code, same order), and each op's f32 outputs (forward values, backward
// gradients) are compared with the f64 ones: error = max |f32 − f64| / max |f64| over the tensor.
#pragma once
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tools/train/checkpoint.h"

namespace loupe::tools {

struct ShadowOp {
  int64_t index = 0, step = 0;  // the op event's place in the step(s), and its step
  std::string pass, op, module;
  double rel = 0;  // the worst of its outputs
};

struct ShadowReport {
  std::vector<ShadowOp> ops;  // every op event, worst first
  struct Kind {
    int64_t count = 0;
    double worst = 0, median = 0;
  };
  std::map<std::string, Kind> by_kind;  // "op (pass)" -> summary
  std::vector<double> loss32, loss64, gnorm32, gnorm64;  // per step
  std::string table(size_t top) const;
  nlohmann::json to_json(size_t top) const;
};

// cfg: a run config; ck: optional checkpoint whose weights, config and step to start from.
ShadowReport shadow_f64(const RunConfig& cfg, const Checkpoint* ck, int64_t steps);

}  // namespace loupe::tools
