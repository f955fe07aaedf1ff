// The alignment of `loupe audit diff` (tools/audit/trace_diff.h) on traces written by hand, where
// the answer is known: an op inserted, an op deleted before a divergence, two ops swapped, one
// trace ending early, traces too far apart to align; and the HTML report's rows. The use cases
// on real runs (1 vs 2 threads, a changed kernel, a changed model) are in test_audit.cpp.
#include <gtest/gtest.h>

#include "tests/test_files.h"
#include "tools/audit/trace_diff.h"

namespace loupe {
namespace {

using nlohmann::json;
using tools::TraceDiff;

json record(int64_t seq, const std::string& op, const std::string& module, const std::string& hash) {
  return {{"seq", seq}, {"step", 0}, {"pass", "forward"}, {"op", op}, {"module", module},
          {"inputs", json::array({{{"dtype", "f32"}, {"shape", {4, 8}}, {"from", seq > 0 ? json(seq - 1) : json()}}})},
          {"outputs", json::array({{{"dtype", "f32"}, {"shape", {4, 8}}, {"min", -1.0}, {"max", 1.0}, {"mean", 0.0},
                                    {"rms", 0.5}, {"nan", 0}, {"inf", 0}, {"hash", hash}}})}};
}

// A model's trace: n ops cycling through a layer's ops, each in its layer's module.
std::vector<json> trace(int64_t n) {
  const char* ops[] = {"layer_norm", "matmul", "gelu", "matmul", "add"};
  std::vector<json> t;
  for (int64_t i = 0; i < n; ++i)
    t.push_back(record(i, ops[i % 5], "h." + std::to_string(i / 5), "hash" + std::to_string(i)));
  return t;
}

struct Traces : testing::ScratchDir {
  Traces() : ScratchDir("loupe_trace_diff_") {}
  std::string write(const std::string& name, const std::vector<json>& records) const {
    std::string text = R"({"note": "model", "value": {"type": "gpt"}})" "\n";
    for (const json& r : records) text += r.dump() + "\n";
    return file(name, text);
  }
};

TEST(TraceDiffAlign, AnInsertedOpIsNamedAndTheRestStaysAligned) {
  Traces t;
  std::vector<json> a = trace(40), b = a;
  b.insert(b.begin() + 17, record(99, "contiguous", "h.3", "extra"));
  const TraceDiff d = tools::diff_traces(t.write("a.jsonl", a), t.write("b.jsonl", b));
  ASSERT_EQ(d.kind, TraceDiff::ControlFlow) << d.summary();
  EXPECT_EQ(d.only_a, 0);
  EXPECT_EQ(d.only_b, 1);
  EXPECT_EQ(d.records, 40);  // every op of A found its partner
  EXPECT_EQ(d.index, 17);
  EXPECT_EQ(d.index_b, 17);
  ASSERT_EQ(d.edits.size(), 1u);
  EXPECT_EQ(d.edits[0]["op"], "contiguous");
  EXPECT_NE(d.summary().find("only in B: record 17"), std::string::npos) << d.summary();
}

TEST(TraceDiffAlign, ADeletedOpThenTheFirstDivergenceAfterIt) {
  Traces t;
  std::vector<json> a = trace(40), b = a;
  b.erase(b.begin() + 6);
  b[20]["outputs"][0]["hash"] = "changed";  // A's record 21
  const TraceDiff d = tools::diff_traces(t.write("a.jsonl", a), t.write("b.jsonl", b));
  ASSERT_EQ(d.kind, TraceDiff::Diverges) << d.summary();
  EXPECT_EQ(d.index, 21);
  EXPECT_EQ(d.index_b, 20);
  ASSERT_EQ(d.edits.size(), 1u);
  EXPECT_EQ(d.edits[0]["side"], "A");
  EXPECT_EQ(d.edits[0]["index"], 6);
}

TEST(TraceDiffAlign, SwappedOpsAndAnEarlyEnd) {
  Traces t;
  std::vector<json> a = trace(30), b = a;
  std::swap(b[10], b[11]);  // gelu and matmul change places
  TraceDiff d = tools::diff_traces(t.write("a.jsonl", a), t.write("b.jsonl", b));
  EXPECT_EQ(d.kind, TraceDiff::ControlFlow) << d.summary();
  EXPECT_EQ(d.only_a, 1);
  EXPECT_EQ(d.only_b, 1);
  std::vector<json> cut(a.begin(), a.begin() + 25);
  d = tools::diff_traces(t.write("cut.jsonl", cut), t.write("a.jsonl", a));
  EXPECT_EQ(d.kind, TraceDiff::Length) << d.summary();
  EXPECT_EQ(d.records, 25);
  EXPECT_TRUE(d.a.is_null());
  d = tools::diff_traces(t.write("a.jsonl", a), t.write("a2.jsonl", a));
  EXPECT_EQ(d.kind, TraceDiff::Identical);
  EXPECT_EQ(d.index, 30);
}

TEST(TraceDiffAlign, TracesTooFarApartPartAtTheFirstMismatch) {
  Traces t;
  std::vector<json> a = trace(3100), b = a;
  for (size_t i = 3; i < b.size(); ++i) b[i]["op"] = "other";
  const TraceDiff d = tools::diff_traces(t.write("a.jsonl", a), t.write("b.jsonl", b));
  EXPECT_EQ(d.kind, TraceDiff::ControlFlow) << d.summary();
  EXPECT_EQ(d.index, 3);
}

TEST(TraceDiffAlign, TheReportHasEveryRow) {
  Traces t;
  std::vector<json> a = trace(40), b = a;
  b.insert(b.begin() + 17, record(99, "contiguous", "h.3", "extra"));
  b[30]["outputs"][0]["hash"] = "changed";
  TraceDiff d;
  const std::string page = tools::diff_report_html(t.write("a.jsonl", a), t.write("b.jsonl", b), {}, d);
  ASSERT_EQ(d.kind, TraceDiff::Diverges);
  EXPECT_EQ(d.index, 29);
  const auto at = page.find("const R = "), end = page.find(";\n", at);
  const json rec = json::parse(page.substr(at + 10, end - at - 10));
  ASSERT_EQ(rec["rows"].size(), 41u);
  EXPECT_EQ(rec["rows"][17]["s"], "B");
  EXPECT_EQ(rec["rows"][30]["s"], "differs");
  int same = 0;
  for (const json& row : rec["rows"]) same += row["s"] == "same";
  EXPECT_EQ(same, 39);
  ASSERT_FALSE(rec["chain"].empty());  // the ops that made the divergent op's input
  EXPECT_EQ(rec["chain"][0]["a"], 28);
}

}  // namespace
}  // namespace loupe
