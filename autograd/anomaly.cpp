#include "autograd/anomaly.h"

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <memory>

#include "autograd/run_context.h"
#include "autograd/var.h"
#include "tensor/npy.h"
#include "tensor/stats.h"

namespace loupe {

namespace {

struct Count {
  int64_t nan = 0, inf = 0;
  bool bad() const { return nan + inf > 0; }
};

Count non_finite(const Tensor* t) {
  if (!t || !t->defined() || !is_floating(t->dtype())) return {};
  const TensorStats s = tensor_stats(*t);
  return {s.nan, s.inf};
}

void check_event(const OpEvent& ev, const std::string& dir) {
  Count out;
  for (auto* t : ev.outputs) {
    const Count c = non_finite(t);
    out.nan += c.nan;
    out.inf += c.inf;
  }
  if (!out.bad()) return;
  int bad_input = -1;
  for (size_t k = 0; k < ev.inputs.size() && bad_input < 0; ++k)
    if (non_finite(ev.inputs[k]).bad()) bad_input = int(k);
  const char* pass = ev.backward ? "backward" : "forward";
  std::string dumped = "(no dump)";
  try {
    std::filesystem::create_directories(dir);
    for (size_t k = 0; k < ev.inputs.size(); ++k)
      if (ev.inputs[k] && ev.inputs[k]->defined())
        save_npy((std::filesystem::path(dir) / (std::string(ev.op) + "." + pass + ".input" + std::to_string(k) + ".npy"))
                     .string(),
                 *ev.inputs[k]);
    dumped = "inputs dumped to " + dir + "/";
  } catch (const Error&) {
    // the message below still names the op
  }
  throw Error(detail::cat("anomaly: ", ev.op, " (module '", ev.module.empty() ? "top level" : ev.module, "') made ",
                          out.nan, " NaN and ", out.inf, " Inf at step ", current_step(), ", ", pass, " pass, ",
                          bad_input < 0 ? std::string("from finite inputs")
                                        : "but its input " + std::to_string(bad_input) + " was already non-finite",
                          "; ", dumped));
}

// LOUPE_ANOMALY at start-up.
struct EnvAnomaly {
  std::unique_ptr<AnomalyScope> scope;
  EnvAnomaly() {
    const char* e = std::getenv("LOUPE_ANOMALY");
    if (e && *e && std::string(e) != "0") scope = std::make_unique<AnomalyScope>(std::string(e) == "1" ? "anomaly" : e);
  }
};
EnvAnomaly g_env_anomaly;

}  // namespace

AnomalyScope::AnomalyScope(std::string dump_dir) {
  hook_ = add_op_hook([dir = std::move(dump_dir)](const OpEvent& ev) { check_event(ev, dir); });
}

AnomalyScope::~AnomalyScope() { remove_op_hook(hook_); }

}  // namespace loupe
