#include "tools/audit/tensor_summary.h"

#include <algorithm>
#include <cmath>
#include <type_traits>

#include "tensor/parallel.h"
#include "tensor/stats.h"

namespace loupe::tools {

using nlohmann::json;

std::string base64(const std::vector<uint8_t>& b) {
  static const char* abc = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((b.size() + 2) / 3 * 4);
  for (size_t i = 0; i < b.size(); i += 3) {
    const uint32_t n = uint32_t(b[i]) << 16 | (i + 1 < b.size() ? uint32_t(b[i + 1]) << 8 : 0) |
                       (i + 2 < b.size() ? uint32_t(b[i + 2]) : 0);
    out += abc[n >> 18 & 63];
    out += abc[n >> 12 & 63];
    out += i + 1 < b.size() ? abc[n >> 6 & 63] : '=';
    out += i + 2 < b.size() ? abc[n & 63] : '=';
  }
  return out;
}

namespace {

// The matrix the heatmap shows: leading dims at index 0, then evenly spaced rows and columns
// (a view: only the cells shown are read, and cast to f64).
json heatmap(const Tensor& x) {
  Tensor m = x;
  std::string of;
  while (m.dim() > 2) m = m.select(0, 0), of += "0, ";
  if (m.dim() == 0) m = m.reshape({1, 1});
  if (m.dim() == 1) m = m.unsqueeze(0);
  if (!of.empty()) of = "[" + of + ":, :]";
  const int64_t R = m.size(0), C = m.size(1);
  const int64_t er = std::max<int64_t>((R + kMapSide - 1) / kMapSide, 1), ec = std::max<int64_t>((C + kMapSide - 1) / kMapSide, 1);
  m = m.slice(0, 0, R, er).slice(1, 0, C, ec).to(DType::F64).contiguous();
  const double* p = m.data<double>();
  double a = 0;
  for (int64_t i = 0; i < m.numel(); ++i)
    if (std::isfinite(p[i])) a = std::max(a, std::abs(p[i]));
  std::vector<uint8_t> q(size_t(m.numel()));
  for (int64_t i = 0; i < m.numel(); ++i) {
    const double v = std::isfinite(p[i]) ? p[i] : 0.0;
    q[size_t(i)] = uint8_t(std::clamp(std::lround(127.5 + 127.5 * (a > 0 ? v / a : 0.0)), 0L, 255L));
  }
  return {{"rows", m.size(0)}, {"cols", m.size(1)}, {"every", {er, ec}}, {"of", of}, {"a", a}, {"q", base64(q)}};
}

// Histogram counts in fixed blocks, in parallel (integer sums: any order gives the same counts).
constexpr int64_t kBlock = 1 << 16;

template <typename T>
std::vector<int64_t> histogram(const T* p, int64_t n, double lo, double hi) {
  const double width = (hi - lo) / kHistBins;
  std::vector<std::vector<int64_t>> blocks(size_t((n + kBlock - 1) / kBlock), std::vector<int64_t>(kHistBins, 0));
  parallel_for(n, kBlock, [&](int64_t b, int64_t e) {
    auto& c = blocks[size_t(b / kBlock)];
    for (int64_t i = b; i < e; ++i) {
      const double v = double(p[i]);
      if (std::isfinite(v)) c[size_t(width > 0 ? std::min<int64_t>(int64_t((v - lo) / width), kHistBins - 1) : 0)]++;
    }
  });
  std::vector<int64_t> counts(kHistBins, 0);
  for (auto& c : blocks)
    for (int k = 0; k < kHistBins; ++k) counts[size_t(k)] += c[size_t(k)];
  return counts;
}

template <typename T>
json summarize(const Tensor& x, bool picture, json j) {
  // The statistics a trace record carries (tensor/stats.h), so the page and the trace agree.
  const TensorStats s = tensor_stats(std::is_same_v<T, int64_t> ? x.to(DType::F64) : x);
  const double lo = s.finite ? s.min : 0.0, hi = s.finite ? s.max : 0.0;
  j["min"] = lo, j["max"] = hi;
  if (std::is_same_v<T, int64_t>) return j;
  j["mean"] = s.mean(), j["rms"] = s.rms();
  j["nan"] = s.nan, j["inf"] = s.inf;
  const T* p = x.data<T>();
  const int64_t n = x.numel();
  if (n == 1) j["value"] = double(p[0]);
  if (!picture) return j;
  j["hist"] = {{"lo", lo}, {"hi", hi}, {"counts", histogram(p, n, lo, hi)}};
  j["map"] = heatmap(x);
  return j;
}

}  // namespace

json summarize_tensor(const Tensor& t, bool picture) {
  if (!t.defined()) return nullptr;
  json j = {{"shape", t.shape()}, {"dtype", dtype_name(t.dtype())}};
  if (t.numel() == 0) return j;
  const Tensor x = t.contiguous();
  switch (x.dtype()) {
    case DType::F32: return summarize<float>(x, picture, std::move(j));
    case DType::F64: return summarize<double>(x, picture, std::move(j));
    default: return summarize<int64_t>(x, picture, std::move(j));
  }
}

}  // namespace loupe::tools
