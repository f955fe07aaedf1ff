// loupe.RunData: a run config's data as the trainer opens it (tools/train/run_data.h): its
// tokenizer, the token file, the exact batches `loupe train` trains on at each step and
// micro-batch, and the loss the trainer and `loupe eval` report for a model. So a loop written in
// Python can train on the CLI's own batches, and be measured as the CLI measures it.
#include <nanobind/stl/pair.h>
#include <nanobind/stl/shared_ptr.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include "python/src/bindings.h"
#include "tools/train/evaluate.h"
#include "tools/train/run_data.h"
#include "tools/train/step.h"

namespace loupe::py {

namespace {

using namespace nb::literals;
using Release = nb::call_guard<nb::gil_scoped_release>;

struct RunData {
  tools::RunConfig config;
  tools::Data data;
  std::shared_ptr<text::Tokenizer> tokenizer;  // shared with Python
};

text::Split split_of(const std::string& s) {
  if (s == "train") return text::Split::Train;
  if (s == "val") return text::Split::Val;
  throw nb::value_error(("split must be 'train' or 'val', got '" + s + "'").c_str());
}

std::shared_ptr<RunData> open_run_data(const std::string& config_json, const std::string& path,
                                       const std::vector<std::string>& sets) {
  auto r = std::make_shared<RunData>();
  r->config = read_run_config(config_json, path, sets);
  r->data = tools::open_data(r->config.data);
  r->tokenizer = std::shared_ptr<text::Tokenizer>(std::move(r->data.tokenizer));
  return r;
}

}  // namespace

void bind_data(nb::module_& m) {
  nb::class_<RunData>(m, "RunData", "a run config's tokenizer, token data and batches, as `loupe train` opens them")
      .def_prop_ro("tokenizer", [](const RunData& r) { return r.tokenizer; })
      .def_prop_ro("token_file", [](const RunData& r) { return r.data.dataset->path(); })
      .def_prop_ro("config_json", [](const RunData& r) { return r.config.to_json().dump(); })
      // The learning rate of step `step` (train's schedule: warm-up, then cosine, linear or inv-sqrt).
      .def("lr", [](const RunData& r, int64_t step) { return r.config.train.LrSchedule::operator()(step); }, "step"_a)
      .def("split_size", [](const RunData& r, const std::string& s) { return r.data.dataset->split_size(split_of(s)); },
           "split"_a)
      // The batch `loupe train` trains on at step `step`, micro-batch `micro` (tools/train/step.h).
      .def("training_batch", [](const RunData& r, int64_t step, int64_t micro, int64_t block) {
        const auto& t = r.config.train;
        Tensor x, y;
        tools::training_batch(*r.data.dataset, t.seed, t.batch_size, block, step, t.grad_accum, micro, x, y);
        return std::make_pair(Var(x), Var(y));
      }, "step"_a, "micro"_a, "block_size"_a, Release())
      // Any batch of a split: row r of batch `index` is the (index·batch + r)-th draw of (seed, split).
      .def("batch", [](const RunData& r, const std::string& s, int64_t batch, int64_t block, uint64_t seed,
                       uint64_t index) {
        Tensor x, y;
        r.data.dataset->batch(split_of(s), batch, block, seed, index, x, y);
        return std::make_pair(Var(x), Var(y));
      }, "split"_a, "batch"_a, "block_size"_a, "seed"_a, "index"_a, Release())
      // The loss the trainer logs at an evaluation (its fixed batches, eval mode, no graph).
      .def("estimate_loss", [](const RunData& r, models::LanguageModel& model, const std::string& s) {
        const auto& t = r.config.train;
        return tools::estimate_loss(model, *r.data.dataset, split_of(s), t.batch_size, model.block_size(),
                                    t.eval_iters, t.eval_seed());
      }, "model"_a, "split"_a = "val", Release())
      // The loss over every token of a split (`loupe eval --whole`, compare's val loss).
      .def("split_loss", [](const RunData& r, models::LanguageModel& model, const std::string& s) {
        return tools::split_loss(model, *r.data.dataset, split_of(s), model.block_size(), r.config.train.batch_size);
      }, "model"_a, "split"_a = "val", Release());
  m.def("_open_run_data", &open_run_data, "config_json"_a, "path"_a, "sets"_a, Release());
}

}  // namespace loupe::py
