#include "autograd/gradcheck.h"

#include <cmath>
#include <sstream>

namespace loupe {

static double weighted_sum(const Tensor& out, const Tensor& w) {
  const auto o = out.to_vector(), ww = w.to_vector();
  double s = 0;
  for (size_t i = 0; i < o.size(); ++i) s += o[i] * ww[i];
  return s;
}

GradcheckResult gradcheck(const std::function<Var(const std::vector<Var>&)>& f, const std::vector<Tensor>& inputs,
                          const GradcheckOptions& opt) {
  std::vector<Tensor> xs;
  std::vector<Var> vars;
  for (auto& t : inputs) {
    xs.push_back(t.to(DType::F64).clone());
    vars.emplace_back(xs.back(), true);
  }
  Var out = f(vars);
  LOUPE_CHECK(out.dtype() == DType::F64, "gradcheck: output is ", out.value().str(), "; ops must keep f64");
  const Tensor w = Tensor::uniform(out.shape(), 0.5, 1.5, opt.seed, DType::F64);
  GradcheckResult res;
  if (out.requires_grad()) out.backward(w);

  for (size_t k = 0; k < xs.size(); ++k) {
    const Tensor analytic = vars[k].grad().defined() ? vars[k].grad() : Tensor::zeros(xs[k].shape(), DType::F64);
    double* x = xs[k].data<double>();
    const int64_t n = xs[k].numel();
    for (int64_t i = 0; i < n; ++i) {
      const double saved = x[i];
      double fp, fm;
      {
        NoGrad ng;
        x[i] = saved + opt.eps;
        std::vector<Var> vp;
        for (auto& t : xs) vp.emplace_back(t, false);
        fp = weighted_sum(f(vp).value(), w);
        x[i] = saved - opt.eps;
        std::vector<Var> vm;
        for (auto& t : xs) vm.emplace_back(t, false);
        fm = weighted_sum(f(vm).value(), w);
      }
      x[i] = saved;
      const double numeric = (fp - fm) / (2 * opt.eps);
      const double a = analytic.contiguous().data<double>()[i];
      const double abs_err = std::fabs(a - numeric);
      const double rel_err = abs_err / std::max(std::fabs(numeric), 1e-12);
      const bool bad = abs_err > opt.atol + opt.rtol * std::fabs(numeric);
      if (abs_err > res.max_abs_err || res.worst_input < 0) {
        res.max_abs_err = std::max(res.max_abs_err, abs_err);
        res.worst_input = int(k);
        res.worst_index = i;
        res.worst_analytic = a;
        res.worst_numeric = numeric;
      }
      res.max_rel_err = std::max(res.max_rel_err, abs_err > opt.atol ? rel_err : 0.0);
      if (bad) res.ok = false;
    }
  }
  std::ostringstream os;
  os << (res.ok ? "gradcheck ok" : "gradcheck FAILED") << ": max abs err " << res.max_abs_err << " (input "
     << res.worst_input << ", flat index " << res.worst_index << ": analytic " << res.worst_analytic << " vs numeric "
     << res.worst_numeric << "), max rel err " << res.max_rel_err;
  res.report = os.str();
  return res;
}

}  // namespace loupe
