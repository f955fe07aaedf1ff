#include "autograd/trace.h"

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <memory>

#include <nlohmann/json.hpp>

#include "autograd/var.h"

namespace loupe {

namespace {

struct Tracer {
  std::ofstream out;
  int hook_id = 0;
  uint64_t seq = 0;
};
std::unique_ptr<Tracer> g_tracer;

nlohmann::json tensor_summary(const Tensor* t) {
  if (!t || !t->defined()) return nullptr;
  nlohmann::json j;
  j["shape"] = t->shape();
  j["dtype"] = dtype_name(t->dtype());
  return j;
}

void write_event(const OpEvent& ev) {
  nlohmann::json j;
  j["seq"] = g_tracer->seq++;
  j["op"] = ev.op;
  j["pass"] = ev.backward ? "backward" : "forward";
  j["inputs"] = nlohmann::json::array();
  for (auto* t : ev.inputs) j["inputs"].push_back(tensor_summary(t));
  j["outputs"] = nlohmann::json::array();
  for (auto* t : ev.outputs) {
    nlohmann::json s = tensor_summary(t);
    if (t && t->defined() && t->numel() > 0) {
      const auto v = t->to_vector();
      double mn = std::numeric_limits<double>::infinity(), mx = -mn, sum = 0;
      for (double x : v) mn = std::min(mn, x), mx = std::max(mx, x), sum += x;
      s["min"] = mn;
      s["max"] = mx;
      s["mean"] = sum / double(v.size());
    }
    j["outputs"].push_back(s);
  }
  g_tracer->out << j.dump() << '\n';
}

// Honour LOUPE_TRACE at start-up for any program linked with loupe.
struct EnvTrace {
  EnvTrace() {
    if (const char* p = std::getenv("LOUPE_TRACE"); p && *p) start_trace(p);
  }
  ~EnvTrace() { stop_trace(); }
} g_env_trace;

}  // namespace

void start_trace(const std::string& path) {
  stop_trace();
  auto t = std::make_unique<Tracer>();
  t->out.open(path, std::ios::out | std::ios::trunc);
  LOUPE_CHECK(t->out.good(), "trace: cannot open '", path, "' for writing");
  g_tracer = std::move(t);
  g_tracer->hook_id = add_op_hook(write_event);
}

void stop_trace() {
  if (!g_tracer) return;
  remove_op_hook(g_tracer->hook_id);
  g_tracer->out.flush();
  g_tracer.reset();
}

}  // namespace loupe
