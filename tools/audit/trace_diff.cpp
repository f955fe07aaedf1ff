#include "tools/audit/trace_diff.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <vector>
#include <sstream>

#include "tensor/error.h"
#include "tensor/npy.h"
#include "tools/audit/html_page.h"
#include "tools/audit/trace_align.h"
#include "tools/audit/trace_reader.h"

namespace loupe::tools {

using nlohmann::json;

namespace {


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

using ModuleRecords = std::vector<std::pair<std::string, json>>;

// One pair of records compared, A's record i against B's record j (aligned, or paired by module):
// its row for the report (when rows), and, if it is the first pair that differs, the divergence
// in d. Pairs are counted up to the divergence, as when the walk stops there. True when this
// pair is that first divergence.
bool compare_pair(const json& x, const json& y, int64_t i, int64_t j, double tol, TraceDiff& d, json* rows) {
  const bool before = d.kind != TraceDiff::Diverges;
  if (before) ++d.records;
  TraceDiff here;
  const bool differs = x["outputs"].size() != y["outputs"].size() || outputs_differ(x, y, tol, here);
  if (rows) {
    json row = {{"a", i}, {"b", j}, {"s", differs ? "differs" : "same"}, {"rel", here.rel}};
    if (here.max_abs >= 0) row["max_abs"] = here.max_abs, row["max_rel"] = here.max_rel;
    rows->push_back(std::move(row));
  }
  if (!differs || !before) return false;
  d.kind = TraceDiff::Diverges, d.output = std::max<int64_t>(here.output, 0), d.rel = here.rel;
  d.max_abs = here.max_abs, d.max_rel = here.max_rel;
  d.index = i, d.index_b = j, d.a = x, d.b = y;
  return true;
}

// Module records paired by key (path#call); A's order, then B's modules that A lacks (rows only).
TraceDiff diff_modules(const ModuleRecords& a, const ModuleRecords& b, double tol, json* rows) {
  std::map<std::string, int64_t> in_b;
  for (size_t j = 0; j < b.size(); ++j) in_b[b[j].first] = int64_t(j);
  TraceDiff d;
  d.modules = true;
  std::vector<bool> used(b.size(), false);
  for (size_t i = 0; i < a.size(); ++i) {
    const auto it = in_b.find(a[i].first);
    if (it == in_b.end()) {
      if (d.kind != TraceDiff::Diverges) ++d.unmatched;  // counted up to the divergence
      if (rows) rows->push_back({{"a", i}, {"b", nullptr}, {"s", "A"}});
      continue;
    }
    used[size_t(it->second)] = true;
    if (compare_pair(a[i].second, b[size_t(it->second)].second, int64_t(i), it->second, tol, d, rows) && !rows) return d;
  }
  if (rows)
    for (size_t j = 0; j < b.size(); ++j)
      if (!used[j]) rows->push_back({{"a", nullptr}, {"b", j}, {"s", "B"}});
  return d;
}

ModuleRecords checked_module_records(TraceReader& r, double tol) {
  ModuleRecords m = module_records(r, tol);
  LOUPE_CHECK(!m.empty(), "audit: ", r.path, " has no module records (traced with LOUPE_TRACE_OPS that leave out 'module'?)");
  return m;
}

std::vector<json> read_all(TraceReader& r) {
  std::vector<json> records;
  for (json rec; r.next(rec);) records.push_back(std::move(rec));
  return records;
}

json edit_of(const char* side, int64_t index, const json& r) {
  return {{"side", side}, {"index", index}, {"seq", r.value("seq", -1)}, {"step", r.value("step", -1)},
          {"pass", r.value("pass", "")}, {"op", r.value("op", "")}, {"module", r.value("module", "")}};
}

// Aligns A's and B's op records, then compares each aligned pair in order. rows (when given)
// gets every row of the alignment for the HTML report; without it the walk stops at the first
// divergence.
TraceDiff diff_aligned(const std::vector<json>& A, const std::vector<json>& B, double tol, json* rows) {
  std::vector<std::string> ka, kb;
  for (auto& r : A) ka.push_back(align_key(r));
  for (auto& r : B) kb.push_back(align_key(r));
  std::vector<std::pair<int64_t, int64_t>> pairs;
  TraceDiff d;
  if (!align(ka, kb, pairs)) {  // too far apart to align: they part at the first mismatch
    int64_t i = 0;
    while (i < int64_t(std::min(A.size(), B.size())) && ka[size_t(i)] == kb[size_t(i)]) ++i;
    d.kind = TraceDiff::ControlFlow, d.index = d.index_b = i, d.records = i, d.a = A[size_t(i)], d.b = B[size_t(i)];
    d.only_a = int64_t(A.size()) - i, d.only_b = int64_t(B.size()) - i;
    return d;
  }
  pairs.emplace_back(int64_t(A.size()), int64_t(B.size()));  // a sentinel: the ends
  int64_t ia = 0, ib = 0;
  auto unmatched = [&](bool in_a) {
    const int64_t i = in_a ? ia : ib;
    const bool before = d.kind != TraceDiff::Diverges;  // counted up to the divergence
    if (before) (in_a ? d.only_a : d.only_b)++;
    if (before && d.edits.size() < 20) {
      json e = edit_of(in_a ? "A" : "B", i, in_a ? A[size_t(i)] : B[size_t(i)]);
      e["at_a"] = ia, e["at_b"] = ib;  // where it stands in both traces
      d.edits.push_back(std::move(e));
    }
    if (rows) rows->push_back({{"a", in_a ? json(i) : json()}, {"b", in_a ? json() : json(i)}, {"s", in_a ? "A" : "B"}});
  };
  for (auto [pa, pb] : pairs) {
    for (; ia < pa; ++ia) unmatched(true);
    for (; ib < pb; ++ib) unmatched(false);
    if (pa == int64_t(A.size())) break;
    if (compare_pair(A[size_t(pa)], B[size_t(pb)], pa, pb, tol, d, rows) && !rows) return d;
    ia = pa + 1, ib = pb + 1;
  }
  if (d.kind == TraceDiff::Diverges) return d;
  if (d.only_a == 0 && d.only_b == 0) {  // identical to the end
    d.index = d.index_b = d.records;
    return d;
  }
  // Every aligned pair the same, some ops on one side only: one trace is the start of the other
  // (Length: it ended), or the graphs differ (ControlFlow), named at the first op without a partner.
  const json& first = d.edits.front();
  const int64_t fi = first["index"];
  d.index = first["at_a"], d.index_b = first["at_b"];
  const bool a_ends = d.only_a == 0 && fi == int64_t(B.size()) - d.only_b,
             b_ends = d.only_b == 0 && fi == int64_t(A.size()) - d.only_a;
  d.kind = a_ends || b_ends ? TraceDiff::Length : TraceDiff::ControlFlow;
  d.a = first["side"] == "A" ? A[size_t(fi)] : json(nullptr);
  d.b = first["side"] == "B" ? B[size_t(fi)] : json(nullptr);
  return d;
}

}  // namespace

TraceDiff diff_traces(const std::string& path_a, const std::string& path_b, const DiffOptions& opt) {
  TraceReader ra(path_a), rb(path_b);
  if (opt.modules) {
    const ModuleRecords a = checked_module_records(ra, opt.tol), b = checked_module_records(rb, opt.tol);
    check_same_model(ra, rb);
    const TraceDiff d = diff_modules(a, b, opt.tol, nullptr);
    LOUPE_CHECK(d.records > 0, "audit: no module of ", path_a, " appears in ", path_b, " (different models or names?)");
    return d;
  }
  const std::vector<json> a = read_all(ra), b = read_all(rb);
  check_same_model(ra, rb);
  return diff_aligned(a, b, opt.tol, nullptr);
}

namespace {

// The ops that made the inputs of A's record `at`, nearest first, through "from" links (at most
// `most`, `depth` links back): where a divergence's inputs came from.
json input_chain(const std::vector<json>& A, int64_t at, int depth = 4, size_t most = 16) {
  std::map<int64_t, int64_t> by_seq;
  for (size_t i = 0; i < A.size(); ++i) by_seq[A[i].value("seq", int64_t(-1))] = int64_t(i);
  json chain = json::array();
  std::vector<std::pair<int64_t, int>> todo = {{at, 0}};
  std::set<int64_t> seen = {at};
  for (size_t q = 0; q < todo.size() && chain.size() < most; ++q) {
    const auto [i, d] = todo[q];
    if (i != at) chain.push_back({{"a", i}, {"depth", d}});
    if (d == depth) continue;
    const json& r = A[size_t(i)];
    // A backward record's producer is its forward; a forward record's are its inputs' makers.
    std::vector<int64_t> from;
    if (r.contains("forward") && r["forward"].is_number_integer()) from.push_back(r["forward"].get<int64_t>());
    for (const json& t : r.value("inputs", json::array()))
      if (t.is_object() && t.contains("from") && t["from"].is_number_integer()) from.push_back(t["from"].get<int64_t>());
    for (int64_t s : from) {
      const auto it = by_seq.find(s);
      if (it != by_seq.end() && seen.insert(it->second).second) todo.push_back({it->second, d + 1});
    }
  }
  return chain;
}

}  // namespace

std::string diff_report_html(const std::string& path_a, const std::string& path_b, const DiffOptions& opt,
                             TraceDiff& result) {
  TraceReader ra(path_a), rb(path_b);
  std::vector<json> A, B;
  json rows = json::array();
  if (opt.modules) {
    ModuleRecords a = checked_module_records(ra, opt.tol), b = checked_module_records(rb, opt.tol);
    check_same_model(ra, rb);
    result = diff_modules(a, b, opt.tol, &rows);
    for (auto& [k, r] : a) A.push_back(std::move(r));
    for (auto& [k, r] : b) B.push_back(std::move(r));
  } else {
    A = read_all(ra), B = read_all(rb);
    check_same_model(ra, rb);
    result = diff_aligned(A, B, opt.tol, &rows);
  }
  json summary = result.to_json();
  summary.erase("a"), summary.erase("b");
  const bool diverged = result.kind == TraceDiff::Diverges;
  json record = {{"a_path", path_a}, {"b_path", path_b}, {"summary", result.summary()}, {"diff", summary},
                 {"tol", opt.tol}, {"modules", opt.modules}, {"rows", std::move(rows)}, {"A", std::move(A)}, {"B", std::move(B)}};
  record["chain"] = diverged && !opt.modules ? input_chain(record["A"].get_ref<const json::array_t&>(), result.index) : json::array();
  return render_page(Page::Diff, record);
}

std::string TraceDiff::summary() const {
  std::ostringstream o;
  auto edit_list = [&](size_t most) {
    for (size_t i = 0; i < std::min(most, edits.size()); ++i)
      o << "\n    only in " << edits[i]["side"].get<std::string>() << ": record " << edits[i]["index"] << ", " << where(edits[i]);
    if (edits.size() > most) o << "\n    ...";
  };
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
      o << "the graphs differ: " << only_a << " ops only in A, " << only_b << " only in B (aligned by op, module and shapes); "
        << "the first at record " << index << " of A, " << index_b << " of B; the " << records << " aligned ops are all the same";
      edit_list(8);
      break;
    case Diverges:
      if (modules) o << "first module that disagrees: '" << a.value("module", "") << "'\n";
      o << "first divergence at record " << index;
      if (index_b != index) o << " (record " << index_b << " of B)";
      o << ": " << where(a) << " (B: " << where(b) << "), output " << output << ", largest difference of its statistics " << rel
        << " (relative to its largest magnitude)\n"
        << "  A: " << stats(a["outputs"][size_t(output)]) << "\n  B: " << stats(b["outputs"][size_t(output)]);
      if (max_abs >= 0) o << "\n  values (both dumped): max abs error " << max_abs << ", max rel error " << max_rel;
      if (!edits.empty()) {
        o << "\n  before it, after aligning the traces by op, module and shapes: " << only_a << " ops only in A, " << only_b
          << " only in B; the first:";
        edit_list(8);
      }
      break;
  }
  return o.str();
}

json TraceDiff::to_json() const {
  static const char* names[] = {"identical", "diverges", "control_flow", "length"};
  return {{"result", names[kind]}, {"index", index}, {"records", records}, {"output", output},
          {"rel", rel}, {"max_abs", max_abs >= 0 ? json(max_abs) : json(nullptr)},
          {"max_rel", max_rel >= 0 ? json(max_rel) : json(nullptr)}, {"modules", modules}, {"unmatched", unmatched},
          {"index_b", index_b}, {"only_a", only_a}, {"only_b", only_b}, {"edits", edits}, {"a", a}, {"b", b}};
}

}  // namespace loupe::tools
