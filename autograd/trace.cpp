#include "autograd/trace.h"

#include <fnmatch.h>
#include <xxhash.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>
#include <string_view>

#include <nlohmann/json.hpp>

#include "autograd/run_context.h"
#include "autograd/var.h"
#include "tensor/npy.h"
#include "tensor/stats.h"

namespace loupe {

using json = nlohmann::ordered_json;  // records keep seq, step, pass, op, module first

bool TraceFilter::selects(const std::string& op, const std::string& module, int64_t step) const {
  if (!ops.empty() && !ops.count(op)) return false;
  if (!modules.empty() && ::fnmatch(modules.c_str(), module.c_str(), 0) != 0) return false;
  return step >= first_step && step <= last_step;
}

TraceFilter TraceFilter::from_env() {
  TraceFilter f;
  if (const char* o = std::getenv("LOUPE_TRACE_OPS"); o && *o) {
    std::string s = o, item;
    for (size_t i = 0; i <= s.size(); ++i)
      if (i == s.size() || s[i] == ',') {
        if (!item.empty()) f.ops.insert(item);
        item.clear();
      } else {
        item += s[i];
      }
  }
  if (const char* m = std::getenv("LOUPE_TRACE_MODULES")) f.modules = m;
  if (const char* st = std::getenv("LOUPE_TRACE_STEPS"); st && *st) {
    char* end = nullptr;
    const std::string s = st;
    f.first_step = f.last_step = std::strtoll(s.c_str(), &end, 10);
    if (*end == '-') f.last_step = std::strtoll(end + 1, &end, 10);
    LOUPE_CHECK(*end == 0 && end != s.c_str() && f.first_step >= 0 && f.last_step >= f.first_step,
                "LOUPE_TRACE_STEPS: expected a step or a range A-B, got '", s, "'");
  }
  return f;
}

namespace {

json shape_record(const Tensor* t) {
  if (!t || !t->defined()) return nullptr;
  return {{"dtype", dtype_name(t->dtype())}, {"shape", t->shape()}};
}

// dtype, shape and, for float tensors, the statistics of the finite values and the bits' hash.
json tensor_record(const Tensor* t) {
  json j = shape_record(t);
  if (j.is_null() || !is_floating(t->dtype()) || t->numel() == 0) return j;
  const Tensor c = t->contiguous();
  const TensorStats st = tensor_stats(c);
  char hash[17];
  std::snprintf(hash, sizeof hash, "%016llx",
                (unsigned long long)XXH64(c.raw_data(), size_t(c.numel()) * dtype_size(c.dtype()), 0));
  if (st.finite) j.update({{"min", st.min}, {"max", st.max}, {"mean", st.mean()}, {"rms", st.rms()}});
  j.update({{"nan", st.nan}, {"inf", st.inf}, {"hash", hash}});
  return j;
}

std::string file_safe(std::string s) {
  for (char& ch : s)
    if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '.' && ch != '_' && ch != '-') ch = '_';
  return s.empty() ? "top" : s;
}

struct Tracer {
  TraceOptions opt;
  std::ofstream out;
  int hook_id = -1;
  uint64_t first = 0;  // the first event's id
  bool started = false;

  int64_t seq(uint64_t id) const { return int64_t(id - first); }
  json from(uint64_t event) const { return event > first ? json(seq(event - 1)) : json(nullptr); }

  // Writes one tensor of the event as .npy; returns its path ("" when nothing was written).
  std::string dump(const OpEvent& ev, int64_t s, const char* what, size_t k, const Tensor* t) const {
    if (opt.dump_dir.empty() || !t || !t->defined()) return "";
    const std::string name = std::to_string(s) + "." + (ev.backward ? "backward" : "forward") + "." + ev.op + "." +
                             file_safe(ev.module) + "." + what + std::to_string(k) + ".npy";
    const std::string path = (std::filesystem::path(opt.dump_dir) / name).string();
    save_npy(path, *t);
    return path;
  }

  void on_event(const OpEvent& ev) {
    if (!started) {
      first = ev.id;
      started = true;
    }
    const int64_t step = current_step();
    if (!opt.filter.selects(ev.op, ev.module, step)) return;
    const int64_t s = seq(ev.id);
    json j = {{"seq", s}, {"step", step}, {"pass", ev.backward ? "backward" : "forward"}, {"op", ev.op},
              {"module", ev.module}, {"inputs", json::array()}, {"outputs", json::array()}};
    // A dumped tensor's record names its file ("npy"), so `loupe audit diff` can compare values.
    for (size_t k = 0; k < ev.inputs.size(); ++k) {
      json in = shape_record(ev.inputs[k]);
      if (in.is_object()) in["from"] = k < ev.from.size() && !ev.backward ? from(ev.from[k]) : json(nullptr);
      const bool same = std::string_view(ev.op) == "module";  // a module event's input is its output
      const std::string f = same ? "" : dump(ev, s, ev.backward ? "dout" : "input", k, ev.inputs[k]);
      if (!f.empty()) in["npy"] = f;
      j["inputs"].push_back(in);
    }
    if (ev.backward) j["forward"] = ev.from.empty() ? json(nullptr) : from(ev.from[0]);
    for (size_t k = 0; k < ev.outputs.size(); ++k) {
      json o = tensor_record(ev.outputs[k]);
      const std::string f = dump(ev, s, ev.backward ? "grad" : "output", k, ev.outputs[k]);
      if (!f.empty()) o["npy"] = f;
      j["outputs"].push_back(o);
    }
    if (out.is_open()) out << j.dump() << '\n';
  }
};

std::unique_ptr<Tracer> g_tracer;

// Honour LOUPE_TRACE / LOUPE_DUMP at start-up for any program linked with loupe.
struct EnvTrace {
  EnvTrace() {
    const char* p = std::getenv("LOUPE_TRACE");
    const char* d = std::getenv("LOUPE_DUMP");
    if ((p && *p) || (d && *d)) start_trace(TraceOptions{p ? p : "", d ? d : "", TraceFilter::from_env()});
  }
  ~EnvTrace() { stop_trace(); }
};
EnvTrace g_env_trace;

}  // namespace

void start_trace(const TraceOptions& opt) {
  stop_trace();
  auto t = std::make_unique<Tracer>();
  t->opt = opt;
  if (!opt.path.empty()) {
    t->out.open(opt.path, std::ios::out | std::ios::trunc);
    LOUPE_CHECK(t->out.good(), "trace: cannot open '", opt.path, "' for writing");
  }
  if (!opt.dump_dir.empty()) std::filesystem::create_directories(opt.dump_dir);
  Tracer* raw = t.get();
  t->hook_id = add_op_hook([raw](const OpEvent& ev) { raw->on_event(ev); });
  g_tracer = std::move(t);
}

void trace_note(const std::string& key, const std::string& json_value) {
  if (!g_tracer || !g_tracer->out.is_open()) return;
  g_tracer->out << json{{"note", key}, {"value", json::parse(json_value)}}.dump() << '\n';
}

void stop_trace() {
  if (!g_tracer) return;
  remove_op_hook(g_tracer->hook_id);
  g_tracer->out.flush();
  g_tracer.reset();
}

}  // namespace loupe
