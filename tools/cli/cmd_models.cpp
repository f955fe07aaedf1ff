// loupe models [TYPE] [--json]: every registered model type with its config keys, each with
// its type, default, range or choices and description (from the model's own key table), then
// the data and train sections of a run config (tools/train/run_config.h). TYPE may be a model
// type, "data" or "train".
#include <cstdio>

#include "models/model.h"
#include "tools/cli/commands.h"
#include "tools/train/run_config.h"

namespace loupe::cli {

namespace {

struct ModelsArgs {
  std::string type;
  bool json = false;
};

nlohmann::json keys_json(const std::string& type, const std::string& summary, const std::vector<models::KeyDoc>& docs) {
  nlohmann::json keys = nlohmann::json::array();
  for (auto& k : docs)
    keys.push_back({{"name", k.name}, {"type", k.type}, {"default", k.default_value}, {"range", k.range}, {"doc", k.doc}});
  return {{"type", type}, {"summary", summary}, {"keys", keys}};
}

nlohmann::json keys_json(const std::string& type) {
  if (type == "data") return keys_json(type, "the data section of a run config", tools::DataConfig::keys().docs());
  if (type == "train") return keys_json(type, "the train section of a run config", tools::TrainConfig::keys().docs());
  const auto& info = models::model_info(type);
  return keys_json(type, info.summary, info.keys());
}

void print_keys(const nlohmann::json& m) {
  std::printf("%s — %s\n", m["type"].get<std::string>().c_str(), m["summary"].get<std::string>().c_str());
  for (auto& k : m["keys"]) {
    const std::string def = k["default"].dump();
    std::printf("  %-18s %-8s default %-10s %-26s %s\n", k["name"].get<std::string>().c_str(),
                k["type"].get<std::string>().c_str(), def.c_str(), k["range"].get<std::string>().c_str(),
                k["doc"].get<std::string>().c_str());
  }
}

void run_models(const ModelsArgs& a) {
  std::vector<std::string> types = a.type.empty() ? models::registered_models() : std::vector<std::string>{a.type};
  if (a.type.empty()) types.insert(types.end(), {"data", "train"});
  nlohmann::json all = nlohmann::json::array();
  for (auto& t : types) all.push_back(keys_json(t));
  if (a.json) {
    std::printf("%s\n", (a.type.empty() ? all : all[0]).dump(2).c_str());
    return;
  }
  for (size_t i = 0; i < all.size(); ++i) {
    if (i) std::printf("\n");
    print_keys(all[i]);
  }
}

}  // namespace

void register_models(CLI::App& app) {
  auto a = std::make_shared<ModelsArgs>();
  auto* sub = app.add_subcommand("models", "list the model types, and the data and train sections, with every config key, its default and meaning");
  sub->add_option("type", a->type, "one model type, data or train (default: all)");
  sub->add_flag("--json", a->json, "as JSON");
  actions().push_back({sub, [a] { run_models(*a); }});
}

}  // namespace loupe::cli
