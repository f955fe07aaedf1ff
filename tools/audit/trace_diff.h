// `loupe audit diff`: where two traces (autograd/trace.h) part. The records are aligned in order
// (the i-th op event of A against the i-th of B, note lines aside), so traces of runs that start
// at different steps compare once filtered to the same steps. A pair of records diverges when
// the ops differ (control flow: another op, pass or module at that place) or when an output
// differs: its hash (bitwise), or with a tolerance its statistics (min, max, mean, rms: difference
// relative to the output's largest magnitude > tol) or NaN/Inf counts. Where both runs dumped
// the output (LOUPE_DUMP: the record names its .npy file), the values themselves are compared
// too: max |a − b| and that relative to max |b|, which is what --tol then bounds.
//
// modules = true compares at module granularity: only "module" records (what each module's
// forward returned), paired by module path and call count instead of by position, so a loupe
// trace compares with a PyTorch one (tools/reference/torch_trace.py) whose ops differ but whose
// modules have the same names. Modules present in only one trace are counted, not compared.
#pragma once
#include <string>

#include <nlohmann/json.hpp>

namespace loupe::tools {

struct TraceDiff {
  enum Kind { Identical, Diverges, ControlFlow, Length } kind = Identical;
  int64_t index = 0;       // record index (0-based, among op records) where it happened
  int64_t records = 0;     // records compared
  int64_t output = -1;     // the output that differs (Diverges)
  double rel = 0;          // largest relative difference of its statistics
  double max_abs = -1, max_rel = -1;  // of the values, where both runs dumped them (else -1)
  bool modules = false;    // compared at module granularity
  int64_t unmatched = 0;   // modules mode: A's module records with no counterpart in B
  nlohmann::json a, b;     // the two records (null where a trace had ended)
  std::string summary() const;  // one paragraph for people
  nlohmann::json to_json() const;
};

struct DiffOptions {
  double tol = -1;       // < 0: compare bits (hashes)
  bool modules = false;  // compare module outputs only, paired by path
};

// Errors (a missing file, a line that is not JSON, traces of two different models, bits asked
// of a trace without hashes) name the file and line.
TraceDiff diff_traces(const std::string& path_a, const std::string& path_b, const DiffOptions& opt);
inline TraceDiff diff_traces(const std::string& path_a, const std::string& path_b, double tol = -1) {
  return diff_traces(path_a, path_b, DiffOptions{tol, false});
}

}  // namespace loupe::tools
