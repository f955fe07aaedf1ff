// `loupe audit diff`: where two traces (autograd/trace.h) part. The op records (note lines aside)
// are first aligned: the shortest edit script (Myers' algorithm) between the two sequences of
// keys (op, pass, module, input and output shapes) pairs the records the runs have in common, so
// an op added, removed or moved by a change leaves the rest aligned instead of ending the
// comparison; traces of runs that start at different steps compare once filtered to the same
// steps. The aligned pairs are then compared in order. A pair diverges when an output
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
  // Diverges: the first aligned pair that differs. ControlFlow: every aligned pair is the same
  // but some ops have no partner (the graphs differ). Length: one trace is the start of the other.
  int64_t index = 0;       // A's record index (0-based, among op records) where it happened
  int64_t index_b = 0;     // and B's
  int64_t only_a = 0, only_b = 0;  // records aligned to nothing in the other trace (up to the divergence)
  nlohmann::json edits = nlohmann::json::array();  // those records, at most 20, before the divergence:
                                                   // {"side": "A"|"B", "index", "seq", "op", "module", ...}
  int64_t records = 0;     // aligned pairs compared
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

// `loupe audit diff --html`: the two traces side by side, aligned, every pair's status and (where
// both dumped) its value error, the first divergence with the chain of ops that made its inputs
// (tools/audit/page/diff.html). Returns the page; `result` gets the diff itself.
std::string diff_report_html(const std::string& path_a, const std::string& path_b, const DiffOptions& opt,
                             TraceDiff& result);

}  // namespace loupe::tools
