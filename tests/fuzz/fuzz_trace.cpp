// The trace reader of `loupe audit diff` (tools/audit/trace_diff.cpp): the input is a trace file, compared with
// itself and with a small valid trace, by bits, within a tolerance and module by module. Bad
// traces must be refused with an Error naming the file and line.
#include "tests/fuzz/fuzz.h"
#include "tools/audit/trace_diff.h"

using namespace loupe;

static const char* kValid =
    R"({"note":"model","value":{"type":"gpt","n_layer":1}})" "\n"
    R"({"seq":0,"step":0,"pass":"forward","op":"embedding","module":"transformer.wte","inputs":[{"dtype":"f32","shape":[4,2],"from":null}],"outputs":[{"dtype":"f32","shape":[1,3,2],"min":-1,"max":1,"mean":0,"rms":0.5,"nan":0,"inf":0,"hash":"0123456789abcdef"}]})" "\n"
    R"({"seq":1,"step":0,"pass":"forward","op":"module","module":"transformer.wte","inputs":[{"dtype":"f32","shape":[1,3,2],"from":0}],"outputs":[{"dtype":"f32","shape":[1,3,2],"min":-1,"max":1,"mean":0,"rms":0.5,"nan":0,"inf":0,"hash":"0123456789abcdef"}]})" "\n";

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string valid = fuzz::write_scratch("valid.jsonl", kValid);
  const std::string path = fuzz::write_scratch("fuzz.jsonl", fuzz::bytes(data, size));
  for (const tools::DiffOptions& o : {tools::DiffOptions{-1, false}, tools::DiffOptions{1e-3, false},
                                      tools::DiffOptions{-1, true}, tools::DiffOptions{1e-5, true}}) {
    fuzz::refusal_ok([&] { tools::diff_traces(path, valid, o).summary(); });
    fuzz::refusal_ok([&] { tools::diff_traces(valid, path, o).to_json().dump(); });
    fuzz::refusal_ok([&] {
      const auto d = tools::diff_traces(path, path, o);
      if (d.kind != tools::TraceDiff::Identical) __builtin_trap();  // a usable trace equals itself
    });
  }
  return 0;
}
