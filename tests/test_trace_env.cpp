// LOUPE_TRACE=file.jsonl (set by meson for this test) traces every op from start-up, with no code change.
#include <cstdlib>
#include <fstream>

#include <nlohmann/json.hpp>

#include "autograd/trace.h"
#include "tests/testing.h"

using namespace loupe;

TEST(TraceEnv, EnvironmentVariableTracesOps) {
  const char* path = std::getenv("LOUPE_TRACE");
  ASSERT_NE(path, nullptr) << "run this test through meson (it sets LOUPE_TRACE)";
  Var x(Tensor::from_vector({1.0, 2.0}, {2}, DType::F64), true);
  Var y = make_result("env_probe", x.value().clone(), {x}, [](const Tensor& g) { return std::vector<Tensor>{g}; });
  y.backward(Tensor::ones({2}, DType::F64));
  stop_trace();
  std::ifstream in(path);
  int fwd = 0, bwd = 0;
  for (std::string s; std::getline(in, s);) {
    auto j = nlohmann::json::parse(s);
    if (j["op"] == "env_probe") (j["pass"] == "forward" ? fwd : bwd)++;
  }
  EXPECT_EQ(fwd, 1);
  EXPECT_EQ(bwd, 1);
}
