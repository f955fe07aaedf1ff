#include "models/model.h"

#include <map>

namespace loupe::models {

std::vector<std::string> LanguageModel::decay_parameter_names() const {
  std::vector<std::string> out;
  for (auto& [n, p] : named_parameters())
    if (p.dim() >= 2) out.push_back(n);
  return out;
}

static std::map<std::string, ModelFactory>& registry() {
  static std::map<std::string, ModelFactory> r;  // function-local: filled from static initialisers
  return r;
}

void register_model(const std::string& type, ModelFactory f) {
  LOUPE_CHECK(!registry().count(type), "register_model: model type '", type, "' registered twice");
  registry()[type] = std::move(f);
}

std::vector<std::string> registered_models() {
  std::vector<std::string> out;
  for (auto& [k, f] : registry()) out.push_back(k);
  return out;
}

std::shared_ptr<LanguageModel> build_model(const nlohmann::json& cfg) {
  std::string known;
  for (auto& k : registered_models()) known += (known.empty() ? "" : ", ") + k;
  LOUPE_CHECK(cfg.is_object(), "build_model: the model config must be a JSON object, got ", cfg.dump());
  LOUPE_CHECK(cfg.contains("type") && cfg["type"].is_string(),
              "build_model: the model config needs a string \"type\" (one of: ", known, ")");
  const std::string type = cfg["type"].get<std::string>();
  auto it = registry().find(type);
  LOUPE_CHECK(it != registry().end(), "build_model: unknown model type '", type, "' (known: ", known, ")");
  return it->second(cfg);
}

}  // namespace loupe::models
