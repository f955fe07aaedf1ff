// loupe einsum SPEC --shapes 2x3,3x4 [--json] [--dtype f32|f64] [--run N]
// How loupe evaluates an einsum (tensor/kernels/einsum_explain.h): the order of pairwise
// contractions, each as a batched GEMM with its sizes, the intermediate shapes, FLOPs and bytes per
// step and in total, the naive single-loop-nest cost, and the cheapest order over every contraction
// tree. With --run N it also runs the einsum N times on random data and reports the time.
#include <chrono>
#include <cstdio>

#include <nlohmann/json.hpp>

#include "tensor/kernels/einsum_explain.h"
#include "tensor/ops.h"
#include "tools/cli/commands.h"

namespace loupe::cli {

using einsum_detail::Explanation;
using einsum_detail::subscripts;

struct EinsumArgs {
  std::string spec, shapes, dtype = "f32";
  bool explain = false, json = false;
  int run = 0;
};

// "2x3,3x4" -> {[2,3], [3,4]}; an empty item is a 0-d operand (",3" is a scalar and a [3]).
static std::vector<Shape> parse_shapes(const std::string& text) {
  std::vector<Shape> out;
  size_t start = 0;
  for (;;) {
    const size_t comma = text.find(',', start);
    const std::string item = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    Shape s;
    size_t at = 0;
    while (at < item.size()) {
      const size_t x = item.find('x', at);
      const std::string num = item.substr(at, x == std::string::npos ? std::string::npos : x - at);
      size_t used = 0;
      long long v = -1;
      try {
        v = std::stoll(num, &used);
      } catch (const std::exception&) {
        used = 0;
      }
      LOUPE_CHECK(used == num.size() && !num.empty() && v >= 0 && v <= (1LL << 40), "einsum: --shapes item '", item,
                  "' is not a shape (sizes joined by 'x', e.g. 2x3x4; an empty item for a scalar)");
      s.push_back(v);
      if (x == std::string::npos) break;
      at = x + 1;
      LOUPE_CHECK(at < item.size(), "einsum: --shapes item '", item, "' ends with 'x'");
    }
    double numel = 1;
    for (int64_t v : s) numel *= double(v);
    LOUPE_CHECK(numel <= 0x1p48, "einsum: --shapes item '", item, "' has ", numel, " elements, more than 2^48");
    out.push_back(s);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

static std::string shape_text(const Shape& s) {
  std::string r = "[";
  for (size_t d = 0; d < s.size(); ++d) r += (d ? "," : "") + std::to_string(s[d]);
  return r + "]";
}

static std::string id_text(int id) { return "#" + std::to_string(id); }

static nlohmann::json to_json(const Explanation& e, const std::string& dtype) {
  nlohmann::json ops = nlohmann::json::array(), steps = nlohmann::json::array();
  for (size_t k = 0; k < e.shapes.size(); ++k)
    ops.push_back({{"id", k}, {"subscripts", subscripts(e.problem.inputs[k])}, {"shape", e.shapes[k]}});
  for (auto& s : e.steps)
    steps.push_back({{"kind", s.kind}, {"a", s.a}, {"b", s.b < 0 ? nlohmann::json(nullptr) : nlohmann::json(s.b)},
                     {"result", s.result}, {"a_subscripts", subscripts(s.a_labels)},
                     {"b_subscripts", subscripts(s.b_labels)}, {"result_subscripts", subscripts(s.result_labels)},
                     {"result_shape", s.result_shape}, {"batch", s.batch}, {"m", s.m}, {"n", s.n}, {"k", s.k},
                     {"flops", s.flops}, {"bytes", s.bytes}});
  nlohmann::json j{{"spec", e.problem.spec}, {"dtype", dtype}, {"operands", ops},
                   {"output", {{"subscripts", subscripts(e.problem.output)}, {"shape", e.output_shape}}},
                   {"steps", steps}, {"flops", e.flops}, {"bytes", e.bytes}, {"naive_flops", e.naive_flops},
                   {"planner", e.planner}, {"order", e.tree}};
  if (e.best_known) j["best"] = {{"flops", e.best_flops}, {"order", e.best_tree}};
  return j;
}

static std::string num(double v) {
  char b[32];
  std::snprintf(b, sizeof b, v < 1e5 ? "%.0f" : "%.3g", v);
  return b;
}

static void print_table(const Explanation& e, const std::string& dtype) {
  const size_t n = e.shapes.size();
  std::printf("einsum '%s' (%s)\n", e.problem.spec.c_str(), dtype.c_str());
  for (size_t k = 0; k < n; ++k)
    std::printf("  #%zu  %-8s %s\n", k, subscripts(e.problem.inputs[k]).c_str(), shape_text(e.shapes[k]).c_str());
  std::printf("  ->   %-8s %s\n\n", subscripts(e.problem.output).c_str(), shape_text(e.output_shape).c_str());
  std::printf("%-4s %-15s %-24s %-24s %7s %7s %7s %7s %11s %11s\n", "step", "kind", "reads", "makes", "batch", "m", "n",
              "k", "FLOPs", "bytes");
  for (size_t s = 0; s < e.steps.size(); ++s) {
    const auto& x = e.steps[s];
    std::string reads = id_text(x.a) + " " + subscripts(x.a_labels);
    if (x.b >= 0) reads += " * " + id_text(x.b) + " " + subscripts(x.b_labels);
    const std::string makes = "#" + std::to_string(x.result) + " " + subscripts(x.result_labels) + " " +
                              shape_text(x.result_shape);
    std::printf("%-4zu %-15s %-24s %-24s %7lld %7lld %7lld %7lld %11s %11s\n", s + 1, x.kind.c_str(), reads.c_str(),
                makes.c_str(), (long long)x.batch, (long long)x.m, (long long)x.n, (long long)x.k, num(x.flops).c_str(),
                num(x.bytes).c_str());
  }
  std::printf("\ntotal: %s FLOPs, %s bytes moved (%.2f FLOP/byte)\n", num(e.flops).c_str(), num(e.bytes).c_str(),
              e.bytes > 0 ? e.flops / e.bytes : 0.0);
  std::printf("naive single loop nest over every index: %s FLOPs", num(e.naive_flops).c_str());
  if (e.flops > 0) std::printf(" (%.3g× the chosen path)", e.naive_flops / e.flops);
  std::printf("\n");
  if (n >= 3) {
    std::printf("order (%s): %s\n", e.planner == "greedy" ? "greedy, as beyond 4 operands" : "every order tried",
                e.tree.c_str());
    if (!e.best_known) {
      std::printf("best order: not searched (more than %zu operands)\n", einsum_detail::kMaxBestOperands);
    } else if (e.best_flops < e.flops * (1 - 1e-12)) {
      std::printf("best order over every contraction tree: %s, %s FLOPs: the chosen order costs %.3g× the best\n",
                  e.best_tree.c_str(), num(e.best_flops).c_str(), e.flops / e.best_flops);
    } else {
      std::printf("best order over every contraction tree: the same cost (%s FLOPs)\n", num(e.best_flops).c_str());
    }
  }
}

static void run_einsum(EinsumArgs& o) {
  LOUPE_CHECK(o.dtype == "f32" || o.dtype == "f64", "einsum: --dtype is f32 or f64, not '", o.dtype, "'");
  const DType dt = o.dtype == "f32" ? DType::F32 : DType::F64;
  const std::vector<Shape> shapes = parse_shapes(o.shapes);
  const Explanation e = einsum_detail::explain(o.spec, shapes, int64_t(dtype_size(dt)));
  nlohmann::json j = to_json(e, o.dtype);
  if (o.run > 0) {
    std::vector<Tensor> ops;
    for (size_t k = 0; k < shapes.size(); ++k) ops.push_back(Tensor::uniform(shapes[k], -1, 1, 1000 + k, dt));
    einsum(o.spec, ops);  // warm-up
    double best = 1e30, total = 0;
    for (int r = 0; r < o.run; ++r) {
      const auto t0 = std::chrono::steady_clock::now();
      einsum(o.spec, ops);
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      best = std::min(best, s);
      total += s;
    }
    j["run"] = {{"repeats", o.run}, {"best_seconds", best}, {"mean_seconds", total / o.run},
                {"gflops", e.flops / best * 1e-9}};
    if (!o.json)
      std::printf("ran %d times: best %.3g ms, mean %.3g ms, %.2f GFLOP/s (best)\n", o.run, best * 1e3,
                  total / o.run * 1e3, e.flops / best * 1e-9);
  }
  if (o.json) {
    std::printf("%s\n", j.dump(2).c_str());
    return;
  }
  if (o.run == 0 || o.explain) print_table(e, o.dtype);
}

void register_einsum(CLI::App& app) {
  auto o = std::make_shared<EinsumArgs>();
  auto* sub = app.add_subcommand("einsum", "how loupe evaluates an einsum: contraction order, GEMM sizes, FLOPs, bytes");
  sub->add_option("spec", o->spec, "subscripts, e.g. 'bi,bj,ijk->bk'")->required();
  sub->add_option("--shapes,-s", o->shapes, "operand shapes: sizes joined by x, operands by commas (2x3,3x4)")
      ->required();
  sub->add_flag("--explain", o->explain, "print the plan (the default; with --run, print it as well)");
  sub->add_flag("--json", o->json, "one JSON object");
  sub->add_option("--dtype", o->dtype, "f32 (default) or f64: element size for bytes, and the type --run uses");
  sub->add_option("--run", o->run, "also run it this many times on random data and time it")->check(CLI::NonNegativeNumber);
  actions().push_back({sub, [o] { run_einsum(*o); }});
}

}  // namespace loupe::cli
