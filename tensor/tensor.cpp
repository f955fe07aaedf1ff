// Tensor's methods in the order tensor.h declares them: storage and factories, views (reshape,
// permute, narrow, expand, ...), copies and dtype conversions.
// Long file: it is the one class every other file builds on; its methods stay together so that
// tensor.h and this file read side by side.
#include "tensor/tensor.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <numeric>
#include <type_traits>

#include "tensor/allocator.h"
#include "tensor/parallel.h"
#include "tensor/rng.h"

namespace loupe {

// ---------------------------------------------------------------- shapes
std::string shape_str(const Shape& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

int64_t shape_numel(const Shape& s) {
  int64_t n = 1;
  for (auto d : s) n *= d;
  return n;
}

std::optional<uint64_t> tensor_nbytes(const Shape& shape, DType dtype) {
  uint64_t n = dtype_size(dtype);
  for (auto d : shape)
    if (d < 0 || __builtin_mul_overflow(n, uint64_t(d), &n) || n > kMaxTensorBytes) return std::nullopt;
  return n;
}

Shape contiguous_strides(const Shape& s) {
  Shape st(s.size());
  int64_t acc = 1;
  for (int64_t d = int64_t(s.size()) - 1; d >= 0; --d) {
    st[d] = acc;
    // A shape with a 0 has no elements but still needs strides that fit (a [0, 2^40, 2^40] from a file).
    LOUPE_CHECK(!__builtin_mul_overflow(acc, std::max<int64_t>(s[d], 1), &acc), "shape ", shape_str(s),
                " is too large: its strides overflow 64 bits");
  }
  return st;
}

Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
  const size_t n = std::max(a.size(), b.size());
  Shape out(n);
  for (size_t i = 0; i < n; ++i) {
    const int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    const int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    LOUPE_CHECK(da == db || da == 1 || db == 1, op, ": shapes ", shape_str(a), " and ", shape_str(b),
                " do not broadcast (dim ", i, ": ", da, " vs ", db, ")");
    out[i] = da == 1 ? db : da;
  }
  return out;
}

Shape broadcast_strides(const Tensor& t, const Shape& shape) {
  const size_t n = shape.size(), m = size_t(t.dim());
  LOUPE_CHECK(m <= n, "broadcast: cannot broadcast ", t.str(), " to ", shape_str(shape));
  Shape st(n, 0);
  for (size_t i = 0; i < m; ++i) {
    const int64_t d = t.shape()[i], target = shape[n - m + i];
    LOUPE_CHECK(d == target || d == 1, "broadcast: cannot broadcast ", t.str(), " to ", shape_str(shape));
    st[n - m + i] = (d == 1 && target != 1) ? 0 : t.strides()[i];
  }
  return st;
}

// ---------------------------------------------------------------- storage
Storage::Storage(size_t n) : nbytes(n) { data = storage_alloc(n, capacity); }
Storage::Storage(void* memory, size_t n, std::shared_ptr<void> keeper)
    : data(memory), nbytes(n), external(true), owner(std::move(keeper)) {}
Storage::~Storage() {
  if (!external) storage_free(data, capacity);
}

// ---------------------------------------------------------------- creation
Tensor Tensor::empty(const Shape& shape, DType dtype) {
  for (auto d : shape) LOUPE_CHECK(d >= 0, "empty: negative dimension in shape ", shape_str(shape));
  const auto nbytes = tensor_nbytes(shape, dtype);
  LOUPE_CHECK(nbytes, "empty: shape ", shape_str(shape), " of ", dtype_name(dtype), " needs more than 2^62 bytes");
  auto s = std::make_shared<Storage>(size_t(*nbytes));
  return Tensor(std::move(s), dtype, shape, contiguous_strides(shape), 0);
}

Tensor Tensor::from_external(void* data, DType dtype, const Shape& shape, const Shape& strides,
                             std::shared_ptr<void> owner) {
  LOUPE_CHECK(shape.size() == strides.size(), "from_external: shape ", shape_str(shape), " and strides ",
              shape_str(strides), " differ in rank");
  LOUPE_CHECK(tensor_nbytes(shape, dtype), "from_external: shape ", shape_str(shape), " is too large");
  LOUPE_CHECK(reinterpret_cast<uintptr_t>(data) % dtype_size(dtype) == 0, "from_external: data at ", data,
              " is not aligned to its ", dtype_size(dtype), "-byte elements");
  int64_t last = 0;  // the furthest element reached, in elements from data
  for (size_t i = 0; i < shape.size(); ++i) {
    LOUPE_CHECK(shape[i] >= 0 && strides[i] >= 0, "from_external: shape ", shape_str(shape), " strides ",
                shape_str(strides), " (negative strides are not supported)");
    if (shape[i] == 0) last = -1;
    if (last >= 0 && shape[i] > 1) last += (shape[i] - 1) * strides[i];
  }
  const size_t nbytes = size_t(last + 1) * dtype_size(dtype);
  auto s = std::make_shared<Storage>(data, nbytes, std::move(owner));
  return Tensor(std::move(s), dtype, shape, strides, 0);
}

Tensor Tensor::zeros(const Shape& shape, DType dtype) {
  Tensor t = empty(shape, dtype);
  std::memset(t.raw_data(), 0, size_t(t.numel()) * dtype_size(dtype));
  return t;
}

Tensor Tensor::ones(const Shape& shape, DType dtype) { return full(shape, 1.0, dtype); }

Tensor Tensor::full(const Shape& shape, double value, DType dtype) {
  Tensor t = empty(shape, dtype);
  t.fill_(value);
  return t;
}

Tensor Tensor::scalar(double value, DType dtype) { return full({}, value, dtype); }

Tensor Tensor::arange(int64_t n, DType dtype) {
  Tensor t = empty({n}, dtype);
  LOUPE_DISPATCH_ALL(dtype, T, {
    T* p = t.data<T>();
    for (int64_t i = 0; i < n; ++i) p[i] = T(i);
  });
  return t;
}

Tensor Tensor::from_vector(const std::vector<double>& values, const Shape& shape, DType dtype) {
  LOUPE_CHECK(int64_t(values.size()) == shape_numel(shape), "from_vector: ", values.size(),
              " values do not fill shape ", shape_str(shape));
  Tensor t = empty(shape, dtype);
  LOUPE_DISPATCH_ALL(dtype, T, {
    T* p = t.data<T>();
    for (size_t i = 0; i < values.size(); ++i) p[i] = T(values[i]);
  });
  return t;
}

Tensor Tensor::from_vector(const std::vector<float>& values, const Shape& shape) {
  LOUPE_CHECK(int64_t(values.size()) == shape_numel(shape), "from_vector: ", values.size(),
              " values do not fill shape ", shape_str(shape));
  Tensor t = empty(shape, DType::F32);
  std::copy(values.begin(), values.end(), t.data<float>());
  return t;
}

Tensor Tensor::from_ints(const std::vector<int64_t>& values, const Shape& shape) {
  LOUPE_CHECK(int64_t(values.size()) == shape_numel(shape), "from_ints: ", values.size(),
              " values do not fill shape ", shape_str(shape));
  Tensor t = empty(shape, DType::I64);
  std::copy(values.begin(), values.end(), t.data<int64_t>());
  return t;
}

Tensor Tensor::uniform(const Shape& shape, double lo, double hi, uint64_t seed, DType dtype) {
  Tensor t = empty(shape, dtype);
  LOUPE_DISPATCH(dtype, T, {
    T* p = t.data<T>();
    parallel_for(t.numel(), 4096, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) p[i] = T(lo + (hi - lo) * philox_uniform(seed, 0, uint64_t(i)));
    });
  });
  return t;
}

Tensor Tensor::normal(const Shape& shape, double mean, double std, uint64_t seed, DType dtype) {
  Tensor t = empty(shape, dtype);
  LOUPE_DISPATCH(dtype, T, {
    T* p = t.data<T>();
    parallel_for(t.numel(), 4096, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) p[i] = T(mean + std * philox_normal(seed, 0, uint64_t(i)));
    });
  });
  return t;
}

// ---------------------------------------------------------------- metadata
int64_t Tensor::wrap_dim(int64_t d, int64_t ndim_extra) const {
  // A 0-d tensor has no dim to name (its callers index shape_[d]).
  const int64_t n = dim() + ndim_extra;
  LOUPE_CHECK(d >= -n && d < n, "dimension ", d, " out of range for tensor ", str());
  return d < 0 ? d + n : d;
}

int64_t Tensor::size(int64_t d) const { return shape_[wrap_dim(d)]; }
int64_t Tensor::stride(int64_t d) const { return strides_[wrap_dim(d)]; }

bool Tensor::is_contiguous() const {
  int64_t acc = 1;
  for (int64_t d = dim() - 1; d >= 0; --d) {
    if (shape_[d] != 1 && strides_[d] != acc) return false;
    acc *= shape_[d];
  }
  return true;
}

std::string Tensor::str() const {
  if (!defined()) return "undefined";
  return std::string(dtype_name(dtype_)) + shape_str(shape_);
}

// ---------------------------------------------------------------- copies
// A copy's index space with size-1 dims dropped and neighbouring dims merged wherever both
// tensors step through them as one (outer stride == inner stride · inner size), so a copy
// between views that are contiguous in their last dims becomes a few long rows.
struct CopyLoops {
  std::vector<int64_t> size, dst_stride, src_stride;
};
static CopyLoops coalesce(const Shape& shape, const Shape& dst_st, const Shape& src_st) {
  CopyLoops c;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 1) continue;
    if (!c.size.empty() && c.dst_stride.back() == dst_st[d] * shape[d] && c.src_stride.back() == src_st[d] * shape[d]) {
      c.size.back() *= shape[d];
      c.dst_stride.back() = dst_st[d];
      c.src_stride.back() = src_st[d];
    } else {
      c.size.push_back(shape[d]), c.dst_stride.push_back(dst_st[d]), c.src_stride.push_back(src_st[d]);
    }
  }
  if (c.size.empty()) {
    c.size = {1};
    c.dst_stride = {1};
    c.src_stride = {1};
  }
  return c;
}

template <typename D, typename S>
static void strided_copy(const Tensor& dst, const Tensor& src) {
  const int64_t n = dst.numel();
  if (n == 0) return;
  const CopyLoops c = coalesce(dst.shape(), dst.strides(), broadcast_strides(src, dst.shape()));
  D* d = dst.data<D>();
  const S* s = src.data<S>();
  const int64_t nd = int64_t(c.size.size()), inner = c.size.back(), rows = n / inner;
  const int64_t ids = c.dst_stride.back(), iss = c.src_stride.back();
  // Rows (all but the last loop) in chunks of about 32K elements; each chunk walks its rows
  // with an odometer over the outer loops, starting from its first row's index.
  parallel_for(rows, std::max<int64_t>(1, (int64_t(1) << 15) / inner), [&](int64_t r0, int64_t r1) {
    std::vector<int64_t> idx(size_t(nd), 0);
    int64_t od = 0, os = 0;
    for (int64_t k = nd - 2, rem = r0; k >= 0; --k) {
      idx[size_t(k)] = rem % c.size[size_t(k)];
      rem /= c.size[size_t(k)];
      od += idx[size_t(k)] * c.dst_stride[size_t(k)];
      os += idx[size_t(k)] * c.src_stride[size_t(k)];
    }
    for (int64_t r = r0; r < r1; ++r) {
      D* dr = d + od;
      const S* sr = s + os;
      if (ids == 1 && iss == 1) {
        if constexpr (std::is_same_v<D, S>) std::memcpy(dr, sr, size_t(inner) * sizeof(D));
        else for (int64_t i = 0; i < inner; ++i) dr[i] = D(sr[i]);
      } else {
        for (int64_t i = 0; i < inner; ++i) dr[i * ids] = D(sr[i * iss]);
      }
      for (int64_t k = nd - 2; k >= 0; --k) {  // next row
        od += c.dst_stride[size_t(k)];
        os += c.src_stride[size_t(k)];
        if (++idx[size_t(k)] < c.size[size_t(k)]) break;
        od -= c.dst_stride[size_t(k)] * c.size[size_t(k)];
        os -= c.src_stride[size_t(k)] * c.size[size_t(k)];
        idx[size_t(k)] = 0;
      }
    }
  });
}

void Tensor::copy_(const Tensor& src) {
  LOUPE_CHECK(defined() && src.defined(), "copy_: undefined tensor");
  LOUPE_DISPATCH_ALL(dtype_, D, { LOUPE_DISPATCH_ALL(src.dtype_, S, { strided_copy<D, S>(*this, src); }); });
}

void Tensor::fill_(double value) {
  LOUPE_DISPATCH_ALL(dtype_, T, {
    T* p = data<T>();
    if (is_contiguous()) {
      std::fill(p, p + numel(), T(value));
    } else if (numel() > 0) {
      StridedIter<1> it(shape_, {&strides_});
      do {
        p[it.off[0]] = T(value);
      } while (it.next());
    }
  });
}

Tensor Tensor::contiguous() const {
  if (is_contiguous()) return *this;
  return clone();
}

Tensor Tensor::clone() const {
  Tensor out = empty(shape_, dtype_);
  out.copy_(*this);
  return out;
}

Tensor Tensor::to(DType dtype) const {
  if (dtype == dtype_) return *this;
  Tensor out = empty(shape_, dtype);
  out.copy_(*this);
  return out;
}

// ---------------------------------------------------------------- views
static Shape infer_shape(const Shape& shape, int64_t numel, const char* op, const Tensor& t) {
  Shape out = shape;
  int64_t known = 1, infer = -1;
  for (size_t i = 0; i < out.size(); ++i) {
    if (out[i] == -1) {
      LOUPE_CHECK(infer < 0, op, ": more than one -1 in ", shape_str(shape));
      infer = int64_t(i);
    } else {
      LOUPE_CHECK(out[i] >= 0, op, ": negative size in ", shape_str(shape));
      known *= out[i];
    }
  }
  if (infer >= 0) {
    LOUPE_CHECK(known > 0 && numel % known == 0, op, ": cannot reshape ", t.str(), " to ", shape_str(shape));
    out[infer] = numel / known;
  }
  LOUPE_CHECK(shape_numel(out) == numel, op, ": cannot reshape ", t.str(), " (", numel, " elements) to ",
              shape_str(shape));
  return out;
}

// Strides for viewing (shape, strides) as new_shape without copying; false if impossible.
// Walks the old dims from the innermost, grouping runs that are contiguous with
// each other ("chunks"), and lays the new dims over each chunk (as PyTorch does).
static bool view_strides(Shape shape, Shape strides, const Shape& new_shape, Shape& out) {
  out.assign(new_shape.size(), 0);
  if (shape_numel(shape) == 0) {
    out = contiguous_strides(new_shape);
    return true;
  }
  if (shape.empty()) {
    shape = {1};
    strides = {1};
  }
  int64_t view_d = int64_t(new_shape.size()) - 1;
  int64_t base = strides.back(), tensor_numel = 1, view_numel = 1;
  for (int64_t d = int64_t(shape.size()) - 1; d >= 0; --d) {
    tensor_numel *= shape[d];
    if (d == 0 || (shape[d - 1] != 1 && strides[d - 1] != tensor_numel * base)) {
      while (view_d >= 0 && (view_numel < tensor_numel || new_shape[view_d] == 1)) {
        out[view_d] = view_numel * base;
        view_numel *= new_shape[view_d];
        --view_d;
      }
      if (view_numel != tensor_numel) return false;
      if (d > 0) {
        base = strides[d - 1];
        tensor_numel = 1;
        view_numel = 1;
      }
    }
  }
  return view_d == -1;
}

Tensor Tensor::view(const Shape& shape) const {
  const Shape ns = infer_shape(shape, numel(), "view", *this);
  Shape nst;
  LOUPE_CHECK(view_strides(shape_, strides_, ns, nst), "view: tensor ", str(), " with strides ", shape_str(strides_),
              " cannot be viewed as ", shape_str(ns), " without a copy (use reshape)");
  return Tensor(storage_, dtype_, ns, nst, offset_);
}

Tensor Tensor::reshape(const Shape& shape) const {
  const Shape ns = infer_shape(shape, numel(), "reshape", *this);
  Shape nst;
  if (view_strides(shape_, strides_, ns, nst)) return Tensor(storage_, dtype_, ns, nst, offset_);
  return clone().view(ns);
}

Tensor Tensor::permute(const std::vector<int64_t>& dims) const {
  LOUPE_CHECK(int64_t(dims.size()) == dim(), "permute: ", dims.size(), " dims given for tensor ", str());
  Shape ns(dims.size()), nst(dims.size());
  std::vector<bool> seen(dims.size(), false);
  for (size_t i = 0; i < dims.size(); ++i) {
    const int64_t d = wrap_dim(dims[i]);
    LOUPE_CHECK(!seen[d], "permute: dimension ", d, " repeated for tensor ", str());
    seen[d] = true;
    ns[i] = shape_[d];
    nst[i] = strides_[d];
  }
  return Tensor(storage_, dtype_, ns, nst, offset_);
}

Tensor Tensor::transpose(int64_t d0, int64_t d1) const {
  d0 = wrap_dim(d0);
  d1 = wrap_dim(d1);
  std::vector<int64_t> p(static_cast<size_t>(dim()));
  std::iota(p.begin(), p.end(), 0);
  std::swap(p[d0], p[d1]);
  return permute(p);
}

Tensor Tensor::narrow(int64_t d, int64_t start, int64_t length) const {
  d = wrap_dim(d);
  if (start < 0) start += shape_[d];
  LOUPE_CHECK(start >= 0 && length >= 0 && start + length <= shape_[d], "narrow: [", start, ", ", start + length,
              ") out of range for dim ", d, " of tensor ", str());
  Shape ns = shape_;
  ns[d] = length;
  return Tensor(storage_, dtype_, ns, strides_, offset_ + start * strides_[d]);
}

Tensor Tensor::slice(int64_t d, int64_t start, int64_t end, int64_t step) const {
  d = wrap_dim(d);
  LOUPE_CHECK(step >= 1, "slice: step must be >= 1, got ", step);
  const int64_t n = shape_[d];
  if (start < 0) start += n;
  if (end < 0) end += n;
  start = std::clamp<int64_t>(start, 0, n);
  end = std::clamp<int64_t>(end, start, n);
  Shape ns = shape_, nst = strides_;
  ns[d] = (end - start + step - 1) / step;
  nst[d] = strides_[d] * step;
  return Tensor(storage_, dtype_, ns, nst, offset_ + start * strides_[d]);
}

Tensor Tensor::select(int64_t d, int64_t index) const {
  d = wrap_dim(d);
  if (index < 0) index += shape_[d];
  LOUPE_CHECK(index >= 0 && index < shape_[d], "select: index ", index, " out of range for dim ", d, " of ", str());
  Shape ns = shape_, nst = strides_;
  ns.erase(ns.begin() + d);
  nst.erase(nst.begin() + d);
  return Tensor(storage_, dtype_, ns, nst, offset_ + index * strides_[d]);
}

Tensor Tensor::expand(const Shape& shape) const {
  LOUPE_CHECK(shape.size() >= shape_.size(), "expand: cannot expand ", str(), " to ", shape_str(shape));
  Shape target = shape;
  const size_t lead = shape.size() - shape_.size();
  for (size_t i = 0; i < shape_.size(); ++i)
    if (target[lead + i] == -1) target[lead + i] = shape_[i];
  return Tensor(storage_, dtype_, target, broadcast_strides(*this, target), offset_);
}

Tensor Tensor::as_strided(const Shape& shape, const Shape& strides, int64_t offset) const {
  LOUPE_CHECK(shape.size() == strides.size(), "as_strided: shape ", shape_str(shape), " and strides ",
              shape_str(strides), " differ in rank");
  int64_t lo = offset, hi = offset;
  for (size_t i = 0; i < shape.size(); ++i) {
    LOUPE_CHECK(shape[i] >= 0, "as_strided: negative size in ", shape_str(shape));
    if (shape[i] == 0) {
      lo = 0;
      hi = -1;
    }
    if (shape[i] > 1) (strides[i] < 0 ? lo : hi) += (shape[i] - 1) * strides[i];
  }
  const int64_t cap = int64_t(storage_->nbytes / dtype_size(dtype_));
  LOUPE_CHECK(hi < 0 || (lo >= 0 && hi < cap), "as_strided: view ", shape_str(shape), " strides ", shape_str(strides),
              " offset ", offset, " reaches outside the storage of ", cap, " elements");
  return Tensor(storage_, dtype_, shape, strides, offset);
}

Tensor Tensor::squeeze(int64_t d) const {
  d = wrap_dim(d);
  LOUPE_CHECK(shape_[d] == 1, "squeeze: dim ", d, " of ", str(), " has size ", shape_[d], ", not 1");
  Shape ns = shape_, nst = strides_;
  ns.erase(ns.begin() + d);
  nst.erase(nst.begin() + d);
  return Tensor(storage_, dtype_, ns, nst, offset_);
}

Tensor Tensor::unsqueeze(int64_t d) const {
  d = wrap_dim(d, 1);
  Shape ns = shape_, nst = strides_;
  const int64_t st = d < dim() ? strides_[d] * shape_[d] : 1;
  ns.insert(ns.begin() + d, 1);
  nst.insert(nst.begin() + d, st);
  return Tensor(storage_, dtype_, ns, nst, offset_);
}

// ---------------------------------------------------------------- element access
int64_t Tensor::element_offset(const std::vector<int64_t>& idx) const {
  LOUPE_CHECK(int64_t(idx.size()) == dim(), "at: ", idx.size(), " indices for tensor ", str());
  int64_t off = offset_;
  for (size_t i = 0; i < idx.size(); ++i) {
    LOUPE_CHECK(idx[i] >= 0 && idx[i] < shape_[i], "at: index ", idx[i], " out of range for dim ", i, " of ", str());
    off += idx[i] * strides_[i];
  }
  return off;
}

double Tensor::at(const std::vector<int64_t>& idx) const {
  const int64_t off = element_offset(idx);
  double v = 0;
  LOUPE_DISPATCH_ALL(dtype_, T, { v = double(static_cast<const T*>(storage_->data)[off]); });
  return v;
}

void Tensor::set(const std::vector<int64_t>& idx, double v) {
  const int64_t off = element_offset(idx);
  LOUPE_DISPATCH_ALL(dtype_, T, { static_cast<T*>(storage_->data)[off] = T(v); });
}

double Tensor::item() const {
  LOUPE_CHECK(numel() == 1, "item: tensor ", str(), " has ", numel(), " elements, not 1");
  return contiguous().to_vector()[0];
}

std::vector<double> Tensor::to_vector() const {
  Tensor c = to(DType::F64).contiguous();
  const double* p = c.data<double>();
  return std::vector<double>(p, p + c.numel());
}

std::vector<float> Tensor::to_float_vector() const {
  Tensor c = to(DType::F32).contiguous();
  const float* p = c.data<float>();
  return std::vector<float>(p, p + c.numel());
}

}  // namespace loupe
