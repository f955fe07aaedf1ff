// `loupe audit diff`: where two traces (autograd/trace.h) part. The records are aligned in order
// (the i-th op event of A against the i-th of B, note lines aside), so traces of runs that start
// at different steps compare once filtered to the same steps. A pair of records diverges when
// the ops differ (control flow: another op, pass or module at that place) or when an output
// differs: its hash (bitwise), or with a tolerance its statistics (min, max, mean, rms: difference
// relative to the output's largest magnitude > tol) or NaN/Inf counts.
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
  nlohmann::json a, b;     // the two records (null where a trace had ended)
  std::string summary() const;  // one paragraph for people
  nlohmann::json to_json() const;
};

// Errors (a missing file, a line that is not JSON, traces of two different models) name the
// file and line; tol < 0 compares bits (hashes).
TraceDiff diff_traces(const std::string& path_a, const std::string& path_b, double tol = -1);

}  // namespace loupe::tools
