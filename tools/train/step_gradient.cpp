#include "tools/train/step_gradient.h"

#include <cstring>
#include <type_traits>

#include "tensor/error.h"

namespace loupe::tools {

namespace {
template <class T> std::vector<T>& buffer(std::vector<float>& f32, std::vector<double>& f64) {
  if constexpr (std::is_same_v<T, float>) return f32;
  else return f64;
}
}  // namespace

StepGradient::StepGradient(std::vector<Var> params) : params_(std::move(params)) {
  LOUPE_CHECK(!params_.empty(), "StepGradient: no parameters");
  dtype_ = params_[0].value().dtype();
  for (const Var& p : params_) {
    LOUPE_CHECK(p.value().dtype() == dtype_, "StepGradient: parameters of mixed dtypes (",
                dtype_name(dtype_), " and ", p.value().str(), ")");
    offsets_.push_back(total_);
    total_ += p.value().numel();
  }
  total_ += int64_t(params_.size());  // presence counts
  LOUPE_CHECK(dtype_ == DType::F32 || dtype_ == DType::F64, "StepGradient: parameters are ", dtype_name(dtype_));
  if (dtype_ == DType::F32) mine32_.resize(size_t(total_)), sum32_.resize(size_t(total_));
  else mine64_.resize(size_t(total_)), sum64_.resize(size_t(total_));
}

uint64_t StepGradient::bytes() const { return uint64_t(total_) * dtype_size(dtype_); }

template <class T> void StepGradient::add_typed(Cluster& cluster, bool first) {
  std::vector<T>& mine = buffer<T>(mine32_, mine64_);
  std::vector<T>& sum = buffer<T>(sum32_, sum64_);
  const int64_t presence = total_ - int64_t(params_.size());
  for (size_t i = 0; i < params_.size(); ++i) {
    Var& p = params_[i];
    const Tensor& g = p.grad();
    T* dst = mine.data() + offsets_[i];
    const int64_t n = p.value().numel();
    if (g.defined()) {
      LOUPE_CHECK(g.numel() == n && g.dtype() == dtype_, "StepGradient: gradient ", g.str(), " of a parameter ",
                  p.value().str());
      std::memcpy(dst, g.contiguous().data<T>(), size_t(n) * sizeof(T));
    } else {
      std::memset(dst, 0, size_t(n) * sizeof(T));
    }
    mine[size_t(presence) + i] = g.defined() ? T(1) : T(0);
    p.zero_grad();
  }
  cluster.sum_in_rank_order(mine.data(), sum.data(), size_t(total_), !first);
}

template <class T> void StepGradient::install_typed() {
  const std::vector<T>& sum = buffer<T>(sum32_, sum64_);
  const int64_t presence = total_ - int64_t(params_.size());
  for (size_t i = 0; i < params_.size(); ++i) {
    Var& p = params_[i];
    if (sum[size_t(presence) + i] == T(0)) {
      p.zero_grad();
      continue;
    }
    Tensor g = Tensor::empty(p.value().shape(), dtype_);
    std::memcpy(g.data<T>(), sum.data() + offsets_[i], size_t(p.value().numel()) * sizeof(T));
    p.mutable_grad() = std::move(g);
  }
}

void StepGradient::add(Cluster& cluster, bool first) {
  if (dtype_ == DType::F32) add_typed<float>(cluster, first);
  else add_typed<double>(cluster, first);
}

void StepGradient::install() {
  if (dtype_ == DType::F32) install_typed<float>();
  else install_typed<double>();
}

}  // namespace loupe::tools
