#include "tools/train/metrics.h"

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "tensor/error.h"
#include "tensor/file_io.h"

namespace loupe::tools {

namespace fs = std::filesystem;
using nlohmann::json;

std::vector<json> read_metrics_rows(const std::string& path, bool torn_last_ok) {
  const std::string text = read_file(path);
  std::vector<json> rows;
  size_t line_no = 0;
  for (size_t at = 0; at < text.size();) {
    const size_t nl = text.find('\n', at);
    const bool torn = nl == std::string::npos;
    const std::string line = text.substr(at, torn ? std::string::npos : nl - at);
    at = torn ? text.size() : nl + 1;
    ++line_no;
    if (line.empty()) continue;
    json row = json::parse(line, nullptr, false);
    if (row.is_object() && row.contains("step") && row["step"].is_number_integer()) {
      rows.push_back(std::move(row));
      continue;
    }
    if (torn && torn_last_ok) break;  // an interrupted write: that row was never complete
    throw Error(detail::cat("'", path, "' line ", line_no, ": not a metrics row (a JSON object with an integer \"step\")",
                            torn ? ", and the file ends inside it" : ""));
  }
  return rows;
}

std::vector<std::string> run_files_in(const std::string& dir) {
  std::vector<std::string> found;
  for (const char* f : {"ckpt.safetensors", "metrics.jsonl", "config.json"})
    if (fs::exists(fs::path(dir) / f)) found.emplace_back(f);
  return found;
}

void Metrics::add(const json& row) {
  const double step = row["step"].get<double>();
  if (row.contains("loss")) train.points.push_back({step, row["loss"].get<double>()});
  if (row.contains("val_loss")) val.points.push_back({step, row["val_loss"].get<double>()});
  if (row.contains("train_loss")) train_eval.points.push_back({step, row["train_loss"].get<double>()});
}

void Metrics::reload(int64_t step) {
  std::string all;
  for (const json& row : read_metrics_rows(path, true))
    if (row["step"].get<int64_t>() < step) {
      all += row.dump() + "\n";
      add(row);
      if (row.contains("elapsed_s")) elapsed_before = std::max(elapsed_before, row["elapsed_s"].get<double>());
    }
  write_file_atomic(path, all);
}

void Metrics::append(const json& row) {
  std::ofstream f(path, std::ios::app);
  f << row.dump() << "\n";
  LOUPE_CHECK(f.good(), "cannot append to '", path, "'");
  add(row);
}

}  // namespace loupe::tools
