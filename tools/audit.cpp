#include "tools/audit.h"

#include <cmath>
#include <fstream>
#include <sstream>

#include "tensor/error.h"

namespace loupe::tools {

using nlohmann::json;

namespace {

// Reads op records one at a time; keeps the model note it passes.
struct TraceReader {
  std::string path;
  std::ifstream in;
  int64_t line = 0;
  json model;
  explicit TraceReader(const std::string& p) : path(p), in(p) { LOUPE_CHECK(in.good(), "audit: cannot open trace '", p, "'"); }
  bool next(json& rec) {
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
      return true;
    }
    return false;
  }
};

// |a − b| relative to the output's scale (its largest magnitude), so a mean near 0 does not
// make a rounding difference look large.
double rel_diff(const json& x, const json& y, double scale) {
  if (!x.is_number() || !y.is_number()) return x == y ? 0.0 : INFINITY;
  const double a = x.get<double>(), b = y.get<double>();
  return a == b ? 0.0 : std::abs(a - b) / std::max({std::abs(a), std::abs(b), scale, 1e-30});
}

double scale_of(const json& t) {
  double s = 0;
  for (const char* k : {"min", "max", "rms"})
    if (t.is_object() && t.contains(k) && t[k].is_number()) s = std::max(s, std::abs(t[k].get<double>()));
  return s;
}

std::string where(const json& r) {
  std::ostringstream o;
  o << "seq " << r.value("seq", -1) << ", step " << r.value("step", -1) << ", " << r.value("pass", "?") << " "
    << r.value("op", "?") << " in '" << r.value("module", "") << "'";
  return o.str();
}

std::string stats(const json& t) {
  if (!t.is_object()) return "none";
  std::ostringstream o;
  o << t.value("dtype", "?") << " " << t.value("shape", json::array()).dump();
  for (const char* k : {"min", "max", "mean", "rms"})
    if (t.contains(k)) o << " " << k << " " << t[k].get<double>();
  o << " nan " << t.value("nan", 0) << " inf " << t.value("inf", 0) << " hash " << t.value("hash", "-");
  return o.str();
}

}  // namespace

TraceDiff diff_traces(const std::string& path_a, const std::string& path_b, double tol) {
  TraceReader ra(path_a), rb(path_b);
  TraceDiff d;
  json a, b;
  for (;; ++d.index) {
    const bool ha = ra.next(a), hb = rb.next(b);
    if (d.index == 0 || !ha || !hb) {
      auto type = [](const json& m) { return m.is_object() ? m.value("type", std::string()) : std::string(); };
      const std::string ta = type(ra.model), tb = type(rb.model);
      LOUPE_CHECK(ta.empty() || tb.empty() || ta == tb, "audit: the traces come from different models (", path_a, ": ",
                  ta, ", ", path_b, ": ", tb, ")");
    }
    if (!ha && !hb) return d;
    d.a = ha ? a : json(nullptr), d.b = hb ? b : json(nullptr);
    if (!ha || !hb) {
      d.kind = TraceDiff::Length;
      return d;
    }
    ++d.records;
    if (a["op"] != b["op"] || a["pass"] != b["pass"] || a.value("module", "") != b.value("module", "") ||
        a["outputs"].size() != b["outputs"].size()) {
      d.kind = TraceDiff::ControlFlow;
      return d;
    }
    for (size_t k = 0; k < a["outputs"].size(); ++k) {
      const json &x = a["outputs"][k], &y = b["outputs"][k];
      if (x.is_null() && y.is_null()) continue;
      bool differs = x.is_null() != y.is_null() || x.value("shape", json()) != y.value("shape", json()) ||
                     x.value("dtype", "") != y.value("dtype", "") || x.value("nan", 0) != y.value("nan", 0) ||
                     x.value("inf", 0) != y.value("inf", 0);
      double rel = 0;
      const double scale = std::max(scale_of(x), scale_of(y));
      for (const char* s : {"min", "max", "mean", "rms"})
        if (x.is_object() && y.is_object() && (x.contains(s) || y.contains(s)))
          rel = std::max(rel, rel_diff(x.value(s, json()), y.value(s, json()), scale));
      if (!differs) differs = tol < 0 ? x.value("hash", "") != y.value("hash", "") : rel > tol;
      if (differs) {
        d.kind = TraceDiff::Diverges, d.output = int64_t(k), d.rel = rel;
        return d;
      }
    }
  }
}

std::string TraceDiff::summary() const {
  std::ostringstream o;
  switch (kind) {
    case Identical:
      o << "identical: " << records << " records, every output the same";
      break;
    case Length:
      o << "identical for " << records << " records, then " << (a.is_null() ? "A" : "B") << " ends while "
        << (a.is_null() ? "B" : "A") << " continues with " << where(a.is_null() ? b : a);
      break;
    case ControlFlow:
      o << "the runs take different paths at record " << index << ": A runs " << where(a) << ", B runs " << where(b);
      break;
    case Diverges:
      o << "first divergence at record " << index << ": " << where(a) << " (B: " << where(b) << "), output " << output
        << ", largest difference of its statistics " << rel << " (relative to its largest magnitude)\n"
        << "  A: " << stats(a["outputs"][size_t(output)]) << "\n  B: " << stats(b["outputs"][size_t(output)]);
      break;
  }
  return o.str();
}

json TraceDiff::to_json() const {
  static const char* names[] = {"identical", "diverges", "control_flow", "length"};
  return {{"result", names[kind]}, {"index", index}, {"records", records}, {"output", output},
          {"rel", rel}, {"a", a}, {"b", b}};
}

}  // namespace loupe::tools
