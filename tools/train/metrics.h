// A run's metrics.jsonl (one JSON row per logged step or evaluation) and the loss curves of
// its loss.svg, drawn from those rows.
#pragma once
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tools/train/loss_plot.h"

namespace loupe::tools {

// The rows of a run's metrics.jsonl, each a JSON object with an integer "step". Any other line is
// an error naming the file and line, except a torn last line (no newline after it: the write of
// an interrupted run), which is dropped when torn_last_ok (resume does; readers of finished runs
// do not).
std::vector<nlohmann::json> read_metrics_rows(const std::string& path, bool torn_last_ok);

// The files of a run that `dir` holds (ckpt.safetensors, metrics.jsonl, config.json); none: a new run
// may start there. train() refuses such a directory unless resuming or forced.
std::vector<std::string> run_files_in(const std::string& dir);

// The metrics.jsonl being written and the curves drawn from its rows.
struct Metrics {
  std::string path;
  LossSeries train{.name = "train", .color = "#1f77b4"},
      train_eval{.name = "train (eval)", .color = "#2ca02c", .markers = true}, val{.name = "val", .color = "#ff7f0e", .markers = true};
  double elapsed_before = 0;  // wall seconds of the earlier, interrupted parts of the run (resume)
  // On resume: keep (and re-read) only the rows of steps before `step`; a torn last line is
  // dropped, any other bad line refused (read_metrics_rows).
  void reload(int64_t step);
  // Appends a row to the file and its points to the curves.
  void append(const nlohmann::json& row);
  // Adds a row's points to the curves (without writing it).
  void add(const nlohmann::json& row);
};

}  // namespace loupe::tools
