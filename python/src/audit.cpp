// loupe.audit's C++ side: tracing (autograd/trace.h) for a block of Python code, anomaly mode
// (autograd/anomaly.h) and attention maps (autograd/attention_probe.h) as context managers.
// Each guard is made in __enter__ and ended in __exit__, on the thread that runs the block.
#include <nanobind/stl/pair.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <memory>

#include "autograd/anomaly.h"
#include "autograd/attention_probe.h"
#include "autograd/trace.h"
#include "python/src/bindings.h"
#include "tools/audit/explore.h"
#include "tools/audit/shadow.h"
#include "tools/audit/trace_diff.h"

namespace loupe::py {

namespace {

using namespace nb::literals;

struct Trace {
  TraceOptions opt;
  bool on = false;
};

struct Anomaly {
  std::string dump_dir;
  std::unique_ptr<AnomalyScope> scope;
};

struct Attention {
  std::unique_ptr<AttentionProbe> probe;
  std::vector<AttentionMap> maps;  // kept after the block ends
};

}  // namespace

void bind_audit(nb::module_& m) {
  nb::class_<Trace>(m, "_Trace")
      .def("__init__", [](Trace* t, const std::string& path, const std::string& dump_dir,
                          const std::vector<std::string>& ops, const std::string& modules) {
        new (t) Trace();
        t->opt.path = path;
        t->opt.dump_dir = dump_dir;
        t->opt.filter.ops.insert(ops.begin(), ops.end());
        t->opt.filter.modules = modules;
      }, "path"_a, "dump_dir"_a, "ops"_a, "modules"_a)
      .def("__enter__", [](Trace& t) {
        start_trace(t.opt);
        t.on = true;
      })
      .def("__exit__", [](Trace& t, nb::args) {
        if (t.on) stop_trace();
        t.on = false;
      })
      .def("note", [](Trace&, const std::string& key, const std::string& json_value) { trace_note(key, json_value); });

  nb::class_<Anomaly>(m, "_Anomaly")
      .def("__init__", [](Anomaly* a, const std::string& dir) { new (a) Anomaly{dir, nullptr}; }, "dump_dir"_a)
      .def("__enter__", [](Anomaly& a) { a.scope = std::make_unique<AnomalyScope>(a.dump_dir); })
      .def("__exit__", [](Anomaly& a, nb::args) { a.scope.reset(); });

  nb::class_<Attention>(m, "_AttentionProbe")
      .def(nb::init<>())
      .def("__enter__", [](Attention& a) {
        a.maps.clear();
        a.probe = std::make_unique<AttentionProbe>();
      })
      .def("__exit__", [](Attention& a, nb::args) {
        if (a.probe) a.maps = a.probe->maps();
        a.probe.reset();
      })
      .def("_maps", [](const Attention& a) {
        std::vector<std::pair<std::string, Var>> out;
        for (const auto& map : a.maps) out.emplace_back(map.module, Var(map.probs));
        return out;
      });

  // `loupe audit diff A B [--tol T] [--modules]`: the result as JSON, and its summary.
  m.def("_diff_traces", [](const std::string& a, const std::string& b, double tol, bool modules) {
    const tools::TraceDiff d = tools::diff_traces(a, b, tools::DiffOptions{tol, modules});
    nlohmann::json j = d.to_json();
    j["summary"] = d.summary();
    return j.dump();
  }, "a"_a, "b"_a, "tol"_a, "modules"_a, nb::call_guard<nb::gil_scoped_release>());
  // `loupe audit diff --html`: (the result as JSON, the page).
  m.def("_diff_report", [](const std::string& a, const std::string& b, double tol, bool modules) {
    tools::TraceDiff d;
    std::string page = tools::diff_report_html(a, b, tools::DiffOptions{tol, modules}, d);
    nlohmann::json j = d.to_json();
    j["summary"] = d.summary();
    return std::make_pair(j.dump(), std::move(page));
  }, "a"_a, "b"_a, "tol"_a, "modules"_a, nb::call_guard<nb::gil_scoped_release>());
  // `loupe explore`: (the record as JSON, the page). A run config from Python (a path or a dict,
  // with sets) is read as `loupe.train` reads it.
  m.def("_explore", [](const std::string& config_json, const std::string& path, const std::vector<std::string>& sets,
                       const std::string& ckpt, int64_t step, bool shadow) {
    tools::ExploreOptions o;
    if (ckpt.empty()) o.run = read_run_config(config_json, path, sets);
    o.ckpt = ckpt, o.step = step, o.shadow = shadow;
    const nlohmann::json record = tools::explore_step(o);
    return std::make_pair(record.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), tools::explore_page(record));
  }, "config_json"_a, "path"_a, "sets"_a, "ckpt"_a, "step"_a, "shadow"_a, nb::call_guard<nb::gil_scoped_release>());
  // `loupe audit shadow`: the run's steps in f32 beside an f64 twin, every op's relative error.
  m.def("_shadow", [](const std::string& path, const std::string& ckpt_dir, int64_t steps, int64_t top) {
    std::unique_ptr<tools::Checkpoint> ck;
    if (!ckpt_dir.empty()) ck = std::make_unique<tools::Checkpoint>(tools::load_checkpoint(ckpt_dir));
    const tools::RunConfig cfg = ck ? ck->config : tools::load_run_config(path);
    return tools::shadow_f64(cfg, ck.get(), steps).to_json(size_t(top)).dump();
  }, "config_path"_a, "ckpt_dir"_a, "steps"_a, "top"_a, nb::call_guard<nb::gil_scoped_release>());
}

}  // namespace loupe::py
