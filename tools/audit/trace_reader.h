// Reading a trace file (autograd/trace.h) record by record for `loupe audit diff`: every field
// the diff reads is checked to have the type the format gives it, so a damaged record is named
// (file and line) here rather than failing deep inside a comparison.
#pragma once
#include <cstdint>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

namespace loupe::tools {

// Reads op records one at a time; keeps the model note it passes.
struct TraceReader {
  std::string path;
  std::ifstream in;
  int64_t line = 0;
  nlohmann::json model;
  explicit TraceReader(const std::string& p);  // errors name a file that cannot be opened
  // The next op record (note lines read and skipped); false at the end. A line that is not a
  // JSON record, or a field of the wrong type, is an error naming the file and line.
  bool next(nlohmann::json& rec);
  void check_fields(const nlohmann::json& r) const;
};

}  // namespace loupe::tools
