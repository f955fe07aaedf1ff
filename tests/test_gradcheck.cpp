// Every registered differentiable op has at least one gradcheck case, and every case passes.
#include <map>
#include <set>

#include "tensor/reference/mode.h"
#include "tests/gradcheck_cases.h"
#include "tests/testing.h"

namespace loupe::testing {
std::vector<GradcheckCase>& gradcheck_cases() {
  static std::vector<GradcheckCase> cases;
  return cases;
}
}  // namespace loupe::testing

using namespace loupe;
using namespace loupe::testing;

TEST(Gradcheck, EveryRegisteredOpHasACase) {
  std::set<std::string> covered;
  for (auto& c : gradcheck_cases()) covered.insert(c.op);
  std::vector<std::string> missing;
  for (auto& op : op_registry())
    if (!covered.count(op)) missing.push_back(op);
  std::string list;
  for (auto& m : missing) list += " " + m;
  EXPECT_TRUE(missing.empty()) << "ops with no gradcheck case:" << list;
  // And no case names an op that does not exist (a typo would make the check above vacuous).
  std::set<std::string> registered(op_registry().begin(), op_registry().end());
  for (auto& c : gradcheck_cases()) EXPECT_TRUE(registered.count(c.op)) << "case for unregistered op " << c.op;
}

class GradcheckAll : public ::testing::TestWithParam<size_t> {};

TEST_P(GradcheckAll, AnalyticMatchesFiniteDifferences) {
  const GradcheckCase& c = gradcheck_cases()[GetParam()];
  SCOPED_TRACE(c.op + " / " + c.name);
  EXPECT_TRUE(gradcheck_ok(c.f, c.make_inputs(), c.opt));
}

// The textbook twins (tensor/reference/) have their own backward: each is checked the same way.
TEST_P(GradcheckAll, TextbookTwinsMatchFiniteDifferences) {
  const GradcheckCase& c = gradcheck_cases()[GetParam()];
  SCOPED_TRACE(c.op + " / " + c.name + " (reference mode)");
  reference::Scope textbook;
  EXPECT_TRUE(gradcheck_ok(c.f, c.make_inputs(), c.opt));
}

static std::string case_name(const ::testing::TestParamInfo<size_t>& info) {
  const auto& c = gradcheck_cases()[info.param];
  std::string s = c.op + "_" + c.name + "_" + std::to_string(info.param);
  for (auto& ch : s)
    if (!isalnum(static_cast<unsigned char>(ch))) ch = '_';
  return s;
}

GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(GradcheckAll);
INSTANTIATE_TEST_SUITE_P(AllOps, GradcheckAll, ::testing::Range<size_t>(0, gradcheck_cases().size()), case_name);
