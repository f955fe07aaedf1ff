#include "tools/audit/trace_diff.h"

#include <cmath>
#include <fstream>
#include <map>
#include <vector>
#include <sstream>

#include "tensor/error.h"
#include "tensor/npy.h"

namespace loupe::tools {

using nlohmann::json;

namespace {

// Reads op records one at a time; keeps the model note it passes.
struct TraceReader {
  std::string path;
  std::ifstream in;
  int64_t line = 0;
  json model;
  explicit TraceReader(const std::string& p) : path(p), in(p) { LOUPE_CHECK_FILE(in.good(), "audit: cannot open trace '", p, "'"); }
  // Every field the diff reads has the type the trace format gives it (autograd/trace.h), so a
  // damaged record is named here rather than failing deep inside a comparison.
  void check_fields(const json& r) const {
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
      check_fields(rec);
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
    if (t.contains(k) && t[k].is_number()) o << " " << k << " " << t[k].get<double>();
  o << " nan " << t.value("nan", 0) << " inf " << t.value("inf", 0) << " hash " << t.value("hash", "-");
  return o.str();
}

}  // namespace

namespace {

void check_same_model(const TraceReader& ra, const TraceReader& rb) {
  auto type = [](const json& m) {
    return m.is_object() && m.contains("type") && m["type"].is_string() ? m["type"].get<std::string>() : std::string();
  };
  const std::string ta = type(ra.model), tb = type(rb.model);
  LOUPE_CHECK(ta.empty() || tb.empty() || ta == tb, "audit: the traces come from different models (", ra.path, ": ",
              ta, ", ", rb.path, ": ", tb, ")");
}

// Max |a − b| and that relative to max |b| of two dumped tensors; false when either has no dump.
bool value_error(const json& x, const json& y, double& max_abs, double& max_rel) {
  if (!x.is_object() || !y.is_object() || !x.contains("npy") || !y.contains("npy")) return false;
  const Tensor a = load_npy(x["npy"].get<std::string>()).to(DType::F64).contiguous();
  const Tensor b = load_npy(y["npy"].get<std::string>()).to(DType::F64).contiguous();
  if (a.shape() != b.shape()) return false;
  const double *pa = a.data<double>(), *pb = b.data<double>();
  double err = 0, scale = 0;
  for (int64_t i = 0; i < a.numel(); ++i) {
    err = std::max(err, std::abs(pa[i] - pb[i]));
    scale = std::max(scale, std::abs(pb[i]));
    if (std::isnan(pa[i]) != std::isnan(pb[i])) err = INFINITY;
  }
  max_abs = err;
  max_rel = err / (scale > 0 ? scale : 1.0);
  return true;
}

// Compares two records' outputs; on a difference fills d (Diverges) and returns true.
bool outputs_differ(const json& a, const json& b, double tol, TraceDiff& d) {
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
    double max_abs = -1, max_rel = -1;
    const bool values = !differs && value_error(x, y, max_abs, max_rel);
    if (!differs) differs = tol < 0 ? x.value("hash", "") != y.value("hash", "") : rel > tol || (values && max_rel > tol);
    if (differs) {
      d.kind = TraceDiff::Diverges;
      d.output = int64_t(k);
      d.rel = rel;
      d.max_abs = max_abs;
      d.max_rel = max_rel;
      return true;
    }
  }
  return false;
}

// The module records of a trace, in order, each keyed "path#n" (its n-th call in the trace).
std::vector<std::pair<std::string, json>> module_records(TraceReader& r, double tol) {
  std::vector<std::pair<std::string, json>> out;
  std::map<std::string, int64_t> calls;
  for (json rec; r.next(rec);) {
    if (rec["op"] != "module" || rec["pass"] != "forward") continue;
    const std::string m = rec.value("module", "");
    if (tol < 0)
      for (const json& o : rec["outputs"])
        LOUPE_CHECK(!o.is_object() || o.contains("hash"), "audit: ", r.path, ":", r.line,
                    ": this record has no hash (a PyTorch trace?): give --tol to compare statistics and values");
    out.emplace_back(m + "#" + std::to_string(calls[m]++), std::move(rec));
  }
  return out;
}

TraceDiff diff_modules(TraceReader& ra, TraceReader& rb, double tol) {
  const auto a = module_records(ra, tol), b = module_records(rb, tol);
  check_same_model(ra, rb);
  LOUPE_CHECK(!a.empty(), "audit: ", ra.path, " has no module records (traced with LOUPE_TRACE_OPS that leave out 'module'?)");
  LOUPE_CHECK(!b.empty(), "audit: ", rb.path, " has no module records (traced with LOUPE_TRACE_OPS that leave out 'module'?)");
  std::map<std::string, const json*> in_b;
  for (auto& [key, rec] : b) in_b[key] = &rec;
  TraceDiff d;
  d.modules = true;
  for (size_t i = 0; i < a.size(); ++i) {
    const auto it = in_b.find(a[i].first);
    if (it == in_b.end()) {
      ++d.unmatched;
      continue;
    }
    ++d.records;
    const json &x = a[i].second, &y = *it->second;
    if (x["outputs"].size() != y["outputs"].size() || outputs_differ(x, y, tol, d)) {
      if (d.kind != TraceDiff::Diverges) {
        d.kind = TraceDiff::Diverges;
        d.output = 0;
      }
      d.index = int64_t(i);
      d.a = x;
      d.b = y;
      return d;
    }
  }
  LOUPE_CHECK(d.records > 0, "audit: no module of ", ra.path, " appears in ", rb.path, " (different models or names?)");
  return d;
}

}  // namespace

TraceDiff diff_traces(const std::string& path_a, const std::string& path_b, const DiffOptions& opt) {
  TraceReader ra(path_a), rb(path_b);
  if (opt.modules) return diff_modules(ra, rb, opt.tol);
  TraceDiff d;
  json a, b;
  for (;; ++d.index) {
    const bool ha = ra.next(a), hb = rb.next(b);
    if (d.index == 0 || !ha || !hb) check_same_model(ra, rb);
    if (!ha && !hb) return d;
    d.a = ha ? a : json(nullptr);
    d.b = hb ? b : json(nullptr);
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
    if (outputs_differ(a, b, opt.tol, d)) return d;
  }
}

std::string TraceDiff::summary() const {
  std::ostringstream o;
  switch (kind) {
    case Identical:
      o << "identical: " << records << (modules ? " module records" : " records") << ", every output the same";
      if (unmatched) o << " (" << unmatched << " module records of A have no counterpart in B and were not compared)";
      break;
    case Length:
      o << "identical for " << records << " records, then " << (a.is_null() ? "A" : "B") << " ends while "
        << (a.is_null() ? "B" : "A") << " continues with " << where(a.is_null() ? b : a);
      break;
    case ControlFlow:
      o << "the runs take different paths at record " << index << ": A runs " << where(a) << ", B runs " << where(b);
      break;
    case Diverges:
      if (modules) o << "first module that disagrees: '" << a.value("module", "") << "'\n";
      o << "first divergence at record " << index << ": " << where(a) << " (B: " << where(b) << "), output " << output
        << ", largest difference of its statistics " << rel << " (relative to its largest magnitude)\n"
        << "  A: " << stats(a["outputs"][size_t(output)]) << "\n  B: " << stats(b["outputs"][size_t(output)]);
      if (max_abs >= 0) o << "\n  values (both dumped): max abs error " << max_abs << ", max rel error " << max_rel;
      break;
  }
  return o.str();
}

json TraceDiff::to_json() const {
  static const char* names[] = {"identical", "diverges", "control_flow", "length"};
  return {{"result", names[kind]}, {"index", index}, {"records", records}, {"output", output},
          {"rel", rel}, {"max_abs", max_abs >= 0 ? json(max_abs) : json(nullptr)},
          {"max_rel", max_rel >= 0 ? json(max_rel) : json(nullptr)}, {"modules", modules}, {"unmatched", unmatched}, {"a", a}, {"b", b}};
}

}  // namespace loupe::tools
