// Tensor: a cheap handle on shared storage + dtype + shape + strides + offset.
// Views (view/reshape, permute, transpose, narrow/slice, expand, squeeze,
// unsqueeze) share storage; contiguous() copies only when needed.
// Strides and offset are counted in elements, not bytes.
#pragma once
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tensor/dtype.h"
#include "tensor/error.h"

namespace loupe {

using Shape = std::vector<int64_t>;

std::string shape_str(const Shape& s);  // "[2, 3, 4]"
int64_t shape_numel(const Shape& s);
Shape contiguous_strides(const Shape& s);
// The bytes behind a contiguous tensor of this shape and dtype, numel × element size, computed
// without wrapping; empty when a dimension is negative or the count exceeds kMaxTensorBytes. The
// one check that Tensor::empty and every reader of outside data (safetensors, .npy) go through, so
// no shape from a file can claim more elements than the memory behind it.
constexpr uint64_t kMaxTensorBytes = uint64_t(1) << 62;
std::optional<uint64_t> tensor_nbytes(const Shape& shape, DType dtype);
// NumPy broadcasting of two shapes; throws naming `op` and both shapes when they do not broadcast.
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);

// The buffer shared by all views of a tensor: either loupe's own (64-byte aligned, uninitialised,
// from tensor/allocator.h) or memory owned elsewhere (a NumPy array, a DLPack tensor), kept alive
// by `owner` until the last view goes and never freed by loupe.
struct Storage {
  explicit Storage(size_t nbytes);
  Storage(void* memory, size_t nbytes, std::shared_ptr<void> owner);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  void* data = nullptr;
  size_t nbytes = 0;
  size_t capacity = 0;          // the block's real size (tensor/allocator.h); 0 for external memory
  bool external = false;        // memory owned elsewhere: never freed here
  std::shared_ptr<void> owner;  // external memory's keeper (may be empty)
};

class Tensor {
 public:
  Tensor() = default;  // an undefined tensor (defined() == false)

  // ---- creation ----
  static Tensor empty(const Shape& shape, DType dtype = DType::F32);
  static Tensor zeros(const Shape& shape, DType dtype = DType::F32);
  static Tensor ones(const Shape& shape, DType dtype = DType::F32);
  static Tensor full(const Shape& shape, double value, DType dtype = DType::F32);
  static Tensor scalar(double value, DType dtype = DType::F32);  // 0-d tensor
  static Tensor arange(int64_t n, DType dtype = DType::F32);     // 0, 1, ..., n-1
  static Tensor from_vector(const std::vector<double>& values, const Shape& shape, DType dtype = DType::F32);
  static Tensor from_vector(const std::vector<float>& values, const Shape& shape);
  static Tensor from_ints(const std::vector<int64_t>& values, const Shape& shape);  // an i64 tensor
  // Counter-based random: element i is a pure function of (seed, i).
  static Tensor uniform(const Shape& shape, double lo, double hi, uint64_t seed, DType dtype = DType::F32);
  static Tensor normal(const Shape& shape, double mean, double std, uint64_t seed, DType dtype = DType::F32);
  // A view of memory owned elsewhere (zero-copy interop): element [i...] lives at
  // data + Σ i_d·strides[d] elements. Strides must be non-negative and the elements aligned to
  // their size; `owner` is released when the last view of the storage goes.
  static Tensor from_external(void* data, DType dtype, const Shape& shape, const Shape& strides,
                              std::shared_ptr<void> owner);

  // ---- metadata ----
  bool defined() const { return storage_ != nullptr; }
  DType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  const Shape& strides() const { return strides_; }
  int64_t offset() const { return offset_; }
  int64_t dim() const { return int64_t(shape_.size()); }
  int64_t size(int64_t d) const;  // negative d counts from the end
  int64_t stride(int64_t d) const;
  int64_t numel() const { return shape_numel(shape_); }
  bool is_contiguous() const;
  std::string str() const;  // "f32[2, 3]"
  const std::shared_ptr<Storage>& storage() const { return storage_; }
  bool shares_storage(const Tensor& other) const { return storage_ == other.storage_; }

  // Typed pointer to element [0, 0, ...] (checks the dtype).
  template <typename T>
  T* data() const {
    LOUPE_CHECK(defined(), "data(): tensor is undefined");
    LOUPE_CHECK(dtype_ == dtype_of<T>(), "data<", dtype_name(dtype_of<T>()), ">(): tensor is ", str());
    return static_cast<T*>(storage_->data) + offset_;
  }
  void* raw_data() const { return static_cast<char*>(storage_->data) + offset_ * int64_t(dtype_size(dtype_)); }

  // ---- copies and casts ----
  Tensor contiguous() const;  // itself when already contiguous
  Tensor clone() const;       // always a fresh contiguous copy
  Tensor to(DType dtype) const;
  void copy_(const Tensor& src);  // elementwise copy; src broadcast to this shape
  void fill_(double value);

  // ---- views (no copy) ----
  Tensor view(const Shape& shape) const;     // requires compatible strides; one dim may be -1
  Tensor reshape(const Shape& shape) const;  // view when possible, else a copy
  Tensor permute(const std::vector<int64_t>& dims) const;
  Tensor transpose(int64_t d0, int64_t d1) const;
  Tensor narrow(int64_t dim, int64_t start, int64_t length) const;
  Tensor slice(int64_t dim, int64_t start, int64_t end, int64_t step = 1) const;
  Tensor select(int64_t dim, int64_t index) const;  // removes dim
  Tensor expand(const Shape& shape) const;           // broadcast view (stride 0)
  Tensor squeeze(int64_t dim) const;
  Tensor unsqueeze(int64_t dim) const;
  Tensor flatten() const { return reshape({numel()}); }
  // Any view of the same storage (diagonals, sliding windows); checked to stay inside the storage.
  Tensor as_strided(const Shape& shape, const Shape& strides, int64_t offset) const;

  // ---- element access (slow; for tests, tools and small data) ----
  double item() const;                               // 0-d or 1-element
  double at(const std::vector<int64_t>& idx) const;  // any dtype, returned as double
  void set(const std::vector<int64_t>& idx, double v);
  std::vector<double> to_vector() const;  // all elements, row-major order
  std::vector<float> to_float_vector() const;

 private:
  Tensor(std::shared_ptr<Storage> s, DType d, Shape shape, Shape strides, int64_t offset)
      : storage_(std::move(s)), dtype_(d), shape_(std::move(shape)), strides_(std::move(strides)), offset_(offset) {}
  int64_t wrap_dim(int64_t d, int64_t ndim_extra = 0) const;
  int64_t element_offset(const std::vector<int64_t>& idx) const;

  std::shared_ptr<Storage> storage_;
  DType dtype_ = DType::F32;
  Shape shape_;
  Shape strides_;
  int64_t offset_ = 0;
};

// Iterates over all index tuples of `shape` in row-major order, tracking the
// element offsets of up to N strided operands (used by generic strided kernels).
template <int N>
struct StridedIter {
  Shape shape;
  std::vector<int64_t> strides[N];
  std::vector<int64_t> idx;
  int64_t off[N] = {};
  StridedIter(const Shape& s, std::initializer_list<const Shape*> st) : shape(s), idx(s.size(), 0) {
    int k = 0;
    for (auto* p : st) strides[k++] = *p;
  }
  // Advances to the next index; returns false after the last.
  bool next() {
    for (int64_t d = int64_t(shape.size()) - 1; d >= 0; --d) {
      if (++idx[d] < shape[d]) {
        for (int k = 0; k < N; ++k) off[k] += strides[k][d];
        return true;
      }
      for (int k = 0; k < N; ++k) off[k] -= strides[k][d] * (shape[d] - 1);
      idx[d] = 0;
    }
    return false;
  }
};

// Strides of `t` as seen when broadcast to `shape` (0 on broadcast dims).
Shape broadcast_strides(const Tensor& t, const Shape& shape);

}  // namespace loupe
