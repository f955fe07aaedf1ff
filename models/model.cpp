#include "models/model.h"

#include <unistd.h>

#include <cstdio>
#include <map>

#include "autograd/ops.h"
#include "autograd/trace.h"

namespace loupe::models {

Var LanguageModel::loss(const Tensor& ids, const Tensor& targets) {
  const Var logits = forward(ids);
  return cross_entropy(reshape(logits, {-1, logits.size(-1)}), targets.reshape({-1}));
}

std::vector<std::string> LanguageModel::decay_parameter_names() const {
  std::vector<std::string> out;
  for (auto& [n, p] : named_parameters())
    if (p.dim() >= 2) out.push_back(n);
  return out;
}

static std::map<std::string, ModelInfo>& registry() {
  static std::map<std::string, ModelInfo> r;  // function-local: filled from static initialisers
  return r;
}

void register_model(const std::string& type, ModelInfo info) {
  LOUPE_CHECK(!registry().count(type), "register_model: model type '", type, "' registered twice");
  registry()[type] = std::move(info);
}

std::vector<std::string> registered_models() {
  std::vector<std::string> out;
  for (auto& [k, f] : registry()) out.push_back(k);
  return out;
}

static std::string known_types() {
  std::string known;
  for (auto& k : registered_models()) known += (known.empty() ? "" : ", ") + k;
  return known;
}

const ModelInfo& model_info(const std::string& type) {
  auto it = registry().find(type);
  LOUPE_CHECK(it != registry().end(), "build_model: unknown model type '", type, "' (known: ", known_types(), ")");
  return it->second;
}

double training_state_bytes(double params, DType dtype) { return 4.0 * params * double(dtype_size(dtype)); }

double physical_memory_bytes() {
  const long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGE_SIZE);
  return pages > 0 && page > 0 ? double(pages) * double(page) : 0.0;
}

std::string format_gib(double bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3g GiB", bytes / double(1ull << 30));
  return buf;
}

double training_state_bytes(const LanguageModel& model) {
  const auto params = model.parameters();
  return training_state_bytes(double(model.num_parameters()), params.empty() ? DType::F32 : params[0].dtype());
}

std::shared_ptr<LanguageModel> build_model(const nlohmann::json& cfg) {
  LOUPE_CHECK(cfg.is_object(), "build_model: the model config must be a JSON object, got ", cfg.dump());
  LOUPE_CHECK(cfg.contains("type") && cfg["type"].is_string(),
              "build_model: the model config needs a string \"type\" (one of: ", known_types(), ")");
  const std::string type = cfg["type"].get<std::string>();
  const ModelInfo& info = model_info(type);
  // Before anything is allocated: weights, gradients and two AdamW moments must fit.
  const double params = info.count_parameters(cfg);
  const DType dt = cfg.value("dtype", std::string("f32")) == "f64" ? DType::F64 : DType::F32;
  const double need = training_state_bytes(params, dt), have = physical_memory_bytes();
  LOUPE_CHECK(have <= 0 || need <= have, type, " config: ", params, " parameters need about ", format_gib(need),
              " for weights, gradients and optimizer state; this machine has ", format_gib(have));
  auto model = info.build(cfg);
  trace_note("model", model->config().dump());  // lets `loupe audit diff` tell traces of other models apart
  return model;
}

}  // namespace loupe::models
