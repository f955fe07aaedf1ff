// Tracing built on the op hooks (so no op needs code of its own). LOUPE_TRACE=file.jsonl, read at
// start-up by any loupe program, writes one JSON line per executed op, forward and backward:
//   {"seq": 41, "step": 3, "pass": "forward", "op": "layer_norm", "module": "transformer.h.0.ln_1",
//    "inputs":  [{"dtype": "f32", "shape": [12, 64, 128], "from": 40}, ...],
//    "outputs": [{"dtype": "f32", "shape": [...], "min": .., "max": .., "mean": .., "rms": ..,
//                 "nan": 0, "inf": 0, "hash": "9f2c..."}]}
// seq numbers the op events from the start of the trace (filtered ones leave gaps); "from" is the
// seq of the record that made an input (null for a leaf, or when unknown); backward records'
// inputs are the incoming gradient, their outputs the gradients of the forward inputs, and their
// "from" is the seq of the op's forward record. min/max/mean/rms are over the finite values;
// hash is xxHash64 of the output's bytes in C order, so equal hashes mean equal bits.
// Each module's forward also ends with a record {"op": "module", "module": its path, "inputs":
// [{.., "from": the op that made its output}], "outputs": [that output]}: LOUPE_TRACE_OPS=module
// keeps only these, the granularity of PyTorch's module hooks (tools/reference/torch_trace.py).
// Filters: LOUPE_TRACE_OPS=op,op  LOUPE_TRACE_MODULES=glob (fnmatch, e.g. "transformer.h.1*")
//          LOUPE_TRACE_STEPS=3 or 2-5 (training steps, inclusive).
// LOUPE_DUMP=dir writes the selected ops' tensors as .npy (numpy.load reads them), named
// <seq>.<pass>.<op>.<module>.<input0|output0|dout|grad0>.npy; each dumped tensor's record gives
// its file as "npy", so `loupe audit diff` can compare the values where both runs dumped them.
#pragma once
#include <cstdint>
#include <limits>
#include <set>
#include <string>

namespace loupe {

struct TraceFilter {
  std::set<std::string> ops;  // empty: every op
  std::string modules;        // fnmatch glob over the module path; empty: every module
  int64_t first_step = 0, last_step = std::numeric_limits<int64_t>::max();
  bool selects(const std::string& op, const std::string& module, int64_t step) const;
  // From LOUPE_TRACE_OPS, LOUPE_TRACE_MODULES, LOUPE_TRACE_STEPS; errors name the variable.
  static TraceFilter from_env();
};

struct TraceOptions {
  std::string path;      // JSONL records; "" = none
  std::string dump_dir;  // .npy dumps; "" = none
  TraceFilter filter;
};

// Starts tracing (replacing any active trace). Throws if the file or directory cannot be made.
void start_trace(const TraceOptions& opt);
inline void start_trace(const std::string& path) { start_trace(TraceOptions{path, "", {}}); }
void stop_trace();  // flushes and closes
// While a trace is active, writes a note line {"note": key, "value": <json_value>} (e.g. the model
// config, written by build_model), which `loupe audit diff` reads to refuse traces of other models.
void trace_note(const std::string& key, const std::string& json_value);

}  // namespace loupe
