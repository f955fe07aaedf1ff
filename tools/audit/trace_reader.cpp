#include "tools/audit/trace_reader.h"

#include "tensor/error.h"

namespace loupe::tools {

using nlohmann::json;

TraceReader::TraceReader(const std::string& p) : path(p), in(p) {
  LOUPE_CHECK_FILE(in.good(), "audit: cannot open trace '", p, "'");
}

void TraceReader::check_fields(const json& r) const {
  auto bad = [&](const std::string& field, const char* want) {
    throw Error(detail::cat("audit: ", path, ":", line, ": field \"", field, "\" must be ", want));
  };
  for (const char* k : {"seq", "step"})
    if (r.contains(k) && !r[k].is_number_integer()) bad(k, "an integer");
  for (const char* k : {"pass", "op", "module"})
    if (r.contains(k) && !r[k].is_string()) bad(k, "a string");
  if (r.contains("forward") && !r["forward"].is_number_integer() && !r["forward"].is_null()) bad("forward", "an integer");
  for (const char* list : {"inputs", "outputs"}) {
    if (!r.contains(list)) continue;
    if (!r[list].is_array()) bad(list, "an array");
    for (const json& t : r[list]) {
      if (t.is_null()) continue;  // an undefined tensor
      if (!t.is_object()) bad(list, "an array of tensor records");
      if (t.contains("dtype") && !t["dtype"].is_string()) bad(std::string(list) + "[].dtype", "a string");
      if (t.contains("shape")) {
        if (!t["shape"].is_array()) bad(std::string(list) + "[].shape", "an array of sizes");
        for (const json& d : t["shape"])
          if (!d.is_number_integer()) bad(std::string(list) + "[].shape", "an array of sizes");
      }
      for (const char* k : {"min", "max", "mean", "rms"})
        if (t.contains(k) && !t[k].is_number() && !t[k].is_null()) bad(std::string(list) + "[]." + k, "a number");
      for (const char* k : {"nan", "inf"})
        if (t.contains(k) && !t[k].is_number_integer()) bad(std::string(list) + "[]." + k, "an integer");
      for (const char* k : {"hash", "npy"})
        if (t.contains(k) && !t[k].is_string()) bad(std::string(list) + "[]." + k, "a string");
      if (t.contains("from") && !t["from"].is_null() && !t["from"].is_number_integer())
        bad(std::string(list) + "[].from", "an integer or null");
    }
  }
}

bool TraceReader::next(json& rec) {
  for (std::string s; std::getline(in, s);) {
    ++line;
    if (s.empty()) continue;
    try {
      rec = json::parse(s);
    } catch (const json::exception&) {
      throw Error(detail::cat("audit: ", path, ":", line, ": not a JSON record (a truncated or damaged trace?)"));
    }
    LOUPE_CHECK(rec.is_object(), "audit: ", path, ":", line, ": not a trace record");
    if (rec.contains("note")) {
      if (rec["note"] == "model") model = rec["value"];
      continue;
    }
    LOUPE_CHECK(rec.contains("op") && rec.contains("pass") && rec.contains("outputs") && rec["outputs"].is_array(),
                "audit: ", path, ":", line, ": not a trace record (no op, pass or outputs)");
    check_fields(rec);
    return true;
  }
  return false;
}

}  // namespace loupe::tools
