// loupe.train, the tokenizers and safetensors files: the pipeline of the command line (tools/),
// the same code, driven from Python. train() is `loupe train`'s trainer itself; Python sees each
// metrics row as it is made, and Ctrl-C stops a run between steps.
#include <nanobind/stl/function.h>
#include <nanobind/stl/map.h>
#include <nanobind/stl/pair.h>
#include <nanobind/stl/shared_ptr.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <nlohmann/json.hpp>

#include "nn/safetensors.h"
#include "python/src/bindings.h"
#include "tools/text/tokenizer.h"
#include "tools/train/trainer.h"

namespace loupe::py {

namespace {

using namespace nb::literals;
using json = nlohmann::json;

nb::dict result_dict(const tools::TrainResult& r) {
  nb::dict d;
  d["steps_done"] = r.steps_done;
  d["steps_this_run"] = r.steps_this_run;
  d["last_train_loss"] = r.last_train_loss;
  d["val_loss"] = r.val_loss;
  d["tokens_per_sec"] = r.tokens_per_sec;
  d["tokens_per_step"] = r.tokens_per_step;
  d["seconds"] = r.seconds;
  d["num_parameters"] = r.num_parameters;
  return d;
}

void bind_train(nb::module_& m) {
  // _train(config_json or "", path or "", sets, out_dir, ...): the run config is read as the CLI
  // reads it (load_run_config: file + "section.key=value" sets), or from JSON.
  m.def("_train", [](const std::string& config_json, const std::string& path, const std::vector<std::string>& sets,
                     const std::string& out_dir, bool resume, bool force, bool progress, int64_t stop_after,
                     bool evaluate, std::function<void(std::string)> on_row) {
    tools::TrainOptions o;
    o.config = read_run_config(config_json, path, sets);
    o.out_dir = out_dir;
    o.resume = resume;
    o.force = force;
    o.progress = progress;
    o.stop_after = stop_after;
    o.evaluate = evaluate;
    if (on_row) {
      o.on_row = [on_row](const json& row) {
        nb::gil_scoped_acquire gil;
        if (PyErr_CheckSignals() != 0) throw nb::python_error();  // Ctrl-C in a notebook
        on_row(row.dump());
      };
    }
    nb::gil_scoped_release release;
    return tools::train(o);
  }, "config_json"_a, "path"_a, "sets"_a, "out_dir"_a, "resume"_a, "force"_a, "progress"_a, "stop_after"_a,
        "evaluate"_a, "on_row"_a.none());
  nb::class_<tools::TrainResult>(m, "_TrainResult").def("as_dict", &result_dict);
}

void bind_text(nb::module_& m) {
  nb::class_<text::Tokenizer>(m, "Tokenizer", "a tokenizer of tools/text (char, bpe, gpt2)")
      .def_prop_ro("type", &text::Tokenizer::type)
      .def_prop_ro("vocab_size", &text::Tokenizer::vocab_size)
      .def("encode", [](const text::Tokenizer& t, const std::string& s) { return t.encode(s); }, "text"_a)
      .def("decode", &text::Tokenizer::decode, "ids"_a);
  m.def("_load_tokenizer", [](const std::string& path) {
    return std::shared_ptr<text::Tokenizer>(text::load_tokenizer(path));
  });
}

void bind_safetensors(nb::module_& m) {
  m.def("_save_safetensors", [](const std::string& path, const std::map<std::string, Var>& tensors,
                                const std::map<std::string, std::string>& metadata) {
    nn::save_safetensors(path, tensors_of(tensors), metadata);
  }, "path"_a, "tensors"_a, "metadata"_a, nb::call_guard<nb::gil_scoped_release>());
  m.def("_load_safetensors", [](const std::string& path) {
    std::map<std::string, std::string> meta;
    std::map<std::string, Var> out = vars_of(nn::load_safetensors(path, &meta));
    return std::make_pair(out, meta);
  }, "path"_a);
}

}  // namespace

void bind_pipeline(nb::module_& m) {
  bind_train(m);
  bind_text(m);
  bind_safetensors(m);
}

}  // namespace loupe::py
