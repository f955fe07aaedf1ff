// loupe.models and loupe.checkpoint: the registry's language models (gpt, llama, silia, wiola,
// elita, shishu) built from a config, run, sampled with the KV cache, and loaded from a run's
// checkpoint. A model's parameters are the C++ model's own Vars, so a Python optimizer, a
// state_dict or NumPy sees and changes the very weights the C++ forward uses.
#include <nanobind/stl/map.h>
#include <nanobind/stl/pair.h>
#include <nanobind/stl/shared_ptr.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <nlohmann/json.hpp>

#include "models/model.h"
#include "python/src/bindings.h"
#include "tools/train/checkpoint.h"
#include "tools/train/sampler.h"

namespace loupe::py {

namespace {

using namespace nb::literals;
using models::LanguageModel;
using Release = nb::call_guard<nb::gil_scoped_release>;

void bind_model(nb::module_& m) {
  nb::class_<LanguageModel>(m, "LanguageModel", "a registered language model (models/model.h); ids [B, T] -> logits")
      .def("forward", [](LanguageModel& model, const Var& ids) { return model.forward(ids.value()); }, "ids"_a,
           Release())
      .def("__call__", [](LanguageModel& model, const Var& ids) { return model.forward(ids.value()); }, "ids"_a,
           Release())
      .def("loss", [](LanguageModel& model, const Var& ids, const Var& targets) { return model.loss(ids.value(), targets.value()); },
           "ids"_a, "targets"_a, Release(),
           "the training loss: mean next-token cross-entropy against targets [B, T] (the head fused in for a "
           "large vocabulary)")
      .def_prop_ro("vocab_size", &LanguageModel::vocab_size)
      .def_prop_ro("block_size", &LanguageModel::block_size)
      .def("_config_json", [](const LanguageModel& model) { return model.config().dump(); })
      .def("named_parameters", &LanguageModel::named_parameters, "(name, tensor) pairs: the model's own parameters")
      .def("parameters", &LanguageModel::parameters)
      .def("num_parameters", &LanguageModel::num_parameters)
      .def("decay_parameter_names", &LanguageModel::decay_parameter_names)
      .def("state_dict", [](const LanguageModel& model) { return vars_of(model.state_dict()); })
      .def("load_state_dict", [](LanguageModel& model, const std::map<std::string, Var>& sd, bool strict) {
        model.load_state_dict(tensors_of(sd), strict);
      }, "state_dict"_a, "strict"_a = true)
      .def("train", [](LanguageModel& model, bool on) -> LanguageModel& {
        model.train(on);
        return model;
      }, "mode"_a = true, nb::rv_policy::reference)
      .def("eval", [](LanguageModel& model) -> LanguageModel& {
        model.eval();
        return model;
      }, nb::rv_policy::reference)
      .def_prop_ro("training", &LanguageModel::is_training)
      .def("zero_grad", &LanguageModel::zero_grad)
      .def("step_stats", &LanguageModel::step_stats)
      // generate(prompt ids): the new ids, drawn through the KV cache (tools/train/sampler.h).
      .def("generate", [](LanguageModel& model, const std::vector<int32_t>& prompt, int64_t max_new_tokens,
                          double temperature, int64_t top_k, uint64_t seed, int64_t vocab_limit) {
        tools::SampleOptions o;
        o.tokens = max_new_tokens;
        o.temperature = temperature;
        o.top_k = top_k;
        o.seed = seed;
        o.vocab_limit = vocab_limit;
        nb::gil_scoped_release release;
        return tools::generate(model, prompt, o);
      }, "prompt"_a, "max_new_tokens"_a = 100, "temperature"_a = 1.0, "top_k"_a = 0, "seed"_a = 1337,
           "vocab_limit"_a = 0);

  m.def("_model_types", &models::registered_models);
  m.def("_model_summary", [](const std::string& type) { return models::model_info(type).summary; });
  m.def("_build_model", [](const std::string& cfg) { return models::build_model(nlohmann::json::parse(cfg)); },
        "config_json"_a, Release());
}

// A run's checkpoint: its config, step, tokenizer, the model built and loaded, and the optimizer state.
struct LoadedCheckpoint {
  std::string config_json;
  std::shared_ptr<text::Tokenizer> tokenizer;
  int64_t step = 0;
  std::shared_ptr<LanguageModel> model;
  std::map<std::string, Var> optimizer_state;
};

void bind_checkpoint(nb::module_& m) {
  nb::class_<LoadedCheckpoint>(m, "_Checkpoint")
      .def_ro("config_json", &LoadedCheckpoint::config_json)
      .def_ro("tokenizer", &LoadedCheckpoint::tokenizer)
      .def_ro("step", &LoadedCheckpoint::step)
      .def_ro("model", &LoadedCheckpoint::model)
      .def_ro("optimizer_state", &LoadedCheckpoint::optimizer_state);
  m.def("_load_checkpoint", [](const std::string& dir) {
    tools::Checkpoint ck = tools::load_checkpoint(dir);
    LoadedCheckpoint out;
    out.config_json = ck.config.to_json().dump();
    out.step = ck.step;
    out.model = tools::model_from_checkpoint(ck);
    out.optimizer_state = vars_of(ck.optim_state);
    out.tokenizer = std::move(ck.tokenizer);
    return out;
  }, "dir"_a, Release());
}

}  // namespace

void bind_models(nb::module_& m) {
  bind_model(m);
  bind_checkpoint(m);
}

}  // namespace loupe::py
