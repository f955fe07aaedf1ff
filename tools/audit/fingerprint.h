// The bits a machine computes, in a few lines: every registered model type trained a few steps
// at a tiny size with dropout on (weights, AdamW moments, losses), hashed. Two machines agree
// on a line exactly when they computed the same bits: this is how `./run test-isa` checks that
// AVX2, AVX-512 and NEON builds train identically (docs/design.md, determinism circle 3), and how a
// user checks a new laptop against the table of docs/numerics.md (`loupe fingerprint`).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace loupe::tools {

// The smallest config of `type` that still runs each of its paths (a few types get variants:
// shishu's shared pairs, elita's wraps, grouped-query heads for llama and wiola).
nlohmann::json tiny_model_config(const std::string& type, double dropout = 0.1);
// The text those tiny runs train on (40 lines of Hamlet's question).
std::string tiny_corpus_text();

struct Fingerprint {
  std::string model, dtype;
  uint64_t hash = 0;            // xxHash64 over every checkpoint tensor (name, shape, bytes), by name
  std::vector<double> losses;   // the training loss of each step
  double val_loss = 0;
};

// Writes the run config of that tiny run (and its corpus) into `dir`; returns the config's path.
// Its batch is 3 rows × grad_accum 2.
std::string write_tiny_run_config(const std::string& type, const std::string& dtype, const std::string& dir,
                                  int64_t steps = 6);

// Trains `type` for `steps` steps in `scratch_dir` (its files are left there) on a fixed text.
Fingerprint fingerprint(const std::string& type, const std::string& dtype, const std::string& scratch_dir,
                        int64_t steps = 6);

// One line: "<model> <dtype> <16 hex digits> loss <last loss as a hex float>".
std::string fingerprint_line(const Fingerprint& f);

}  // namespace loupe::tools
