// The trainer's fold of micro-batch gradients (tools/train/step_gradient.h) and the cluster of one
// (tools/train/cluster.h). The fold across real ranks is tests/mpi_cli.py (mpirun through the CLI).
#include <cstdlib>

#include <gtest/gtest.h>

#include "autograd/ops.h"
#include "tests/testing.h"
#include "tools/train/cluster.h"
#include "tools/train/step_gradient.h"

namespace loupe {
namespace {

using testing::bitwise_equal;
using tools::Cluster;
using tools::StepGradient;

// Leaves a, b, c; backward of sum(a·x) + sum(b·x) + sum(a·a): a is used twice (as a tied weight
// is), c never.
void micro_backward(Var& a, Var& b, Var& c, const Tensor& x) {
  Var xv(x);
  (sum(a * xv) + sum(b * xv) + sum(a * a)).backward();
}

TEST(StepGradient, FoldsMicroBatchesInOrderFromZeroedGrads) {
  for (DType dt : {DType::F32, DType::F64}) {
    Var a(Tensor::normal({3, 5}, 0, 1, 1, dt), true), b(Tensor::normal({3, 5}, 0, 1, 2, dt), true),
        c(Tensor::normal({4}, 0, 1, 3, dt), true);
    std::vector<Tensor> xs;
    for (uint64_t m = 0; m < 3; ++m) xs.push_back(Tensor::normal({3, 5}, 0, 1, 10 + m, dt));
    // The fold by hand: each micro-batch's own gradient, then ((g0 + g1) + g2).
    std::vector<Tensor> ga, gb;
    for (const Tensor& x : xs) {
      micro_backward(a, b, c, x);
      ga.push_back(a.grad().clone()), gb.push_back(b.grad().clone());
      a.zero_grad(), b.zero_grad();
    }
    const Tensor want_a = ((Var(ga[0]) + Var(ga[1])) + Var(ga[2])).value();
    const Tensor want_b = ((Var(gb[0]) + Var(gb[1])) + Var(gb[2])).value();
    StepGradient fold({a, b, c});
    for (size_t m = 0; m < xs.size(); ++m) {
      micro_backward(a, b, c, xs[m]);
      fold.add(Cluster::single(), m == 0);
      EXPECT_FALSE(a.grad().defined());  // add() leaves zeroed grads for the next micro-batch
    }
    fold.install();
    EXPECT_TRUE(bitwise_equal(a.grad(), want_a)) << dtype_name(dt);
    EXPECT_TRUE(bitwise_equal(b.grad(), want_b)) << dtype_name(dt);
    EXPECT_FALSE(c.grad().defined()) << "no micro-batch reached c: its grad stays undefined";
    EXPECT_EQ(fold.bytes(), uint64_t(15 + 15 + 4 + 3) * dtype_size(dt));
    // Accumulating into .grad directly (a's two contributions added one by one onto the running
    // sum) is another order of the same sum: equal up to rounding.
    a.zero_grad(), b.zero_grad();
    for (const Tensor& x : xs) micro_backward(a, b, c, x);
    EXPECT_TRUE(testing::all_close(a.grad(), want_a, 1e-5, 1e-5));
  }
}

TEST(StepGradient, RefusesMixedDtypes) {
  Var a(Tensor::zeros({2}), true), b(Tensor::zeros({2}, DType::F64), true);
  try {
    StepGradient fold({a, b});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("mixed dtypes"), std::string::npos) << e.what();
  }
}

TEST(Cluster, OneProcessIsAClusterOfOne) {
  Cluster& c = Cluster::single();
  EXPECT_EQ(c.size(), 1);
  EXPECT_TRUE(c.is_root());
  std::vector<double> v{1.5, 2.5};
  c.share(v);
  EXPECT_EQ(v, (std::vector<double>{1.5, 2.5}));
  c.check_same(42, "anything");
  c.check_all("");
  EXPECT_THROW(c.check_all("boom"), tools::ClusterError);
  EXPECT_THROW(c.all_or_none([] { throw Error("own error"); }), Error);  // one process: unchanged
  float mine[2] = {1, 2}, acc[2] = {10, 20};
  c.sum_in_rank_order(mine, acc, 2, true);
  EXPECT_EQ(acc[0], 11.f);
  EXPECT_EQ(acc[1], 22.f);
  c.sum_in_rank_order(mine, acc, 2, false);
  EXPECT_EQ(acc[0], 1.f);
}

// Launched as rank 0 of 2 (a launcher's environment) by a loupe built without MPI: a clear error
// instead of two processes each training the whole run alone. (With MPI built in, the same
// environment would make MPI look for its launcher; tests/mpi_cli.py runs the real thing.)
TEST(Cluster, WithoutMpiALauncherWithSeveralRanksIsAnError) {
  if (tools::built_with_mpi()) GTEST_SKIP() << "built with MPI";
  EXPECT_EXIT(
      {
        setenv("OMPI_COMM_WORLD_SIZE", "2", 1);
        setenv("OMPI_COMM_WORLD_RANK", "0", 1);
        try {
          Cluster::world();
        } catch (const tools::ClusterError& e) {
          const std::string m = e.what();
          std::exit(m.find("built without MPI") != std::string::npos && m.find("rank 0 of 2") != std::string::npos &&
                            e.report
                        ? 0
                        : 2);
        }
        std::exit(3);
      },
      ::testing::ExitedWithCode(0), "");
}

TEST(Cluster, NotUnderALauncherTheWorldIsOneProcess) {
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE", "SLURM_NTASKS", "PMIX_RANK"})
    if (std::getenv(v)) GTEST_SKIP() << "running under a launcher (" << v << ")";
  EXPECT_EQ(Cluster::world().size(), 1);
  EXPECT_EQ(Cluster::world_if_joined(), &Cluster::world());
}

}  // namespace
}  // namespace loupe
