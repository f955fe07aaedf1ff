#include "tools/audit/tensor_summary.h"

#include <algorithm>
#include <cmath>

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

// The matrix the heatmap shows: leading dims at index 0, then evenly spaced rows and columns.
json heatmap(const Tensor& x) {
  Tensor m = x;
  std::string of;
  while (m.dim() > 2) m = m.select(0, 0), of += "0, ";
  if (m.dim() == 0) m = m.reshape({1, 1});
  if (m.dim() == 1) m = m.unsqueeze(0);
  if (!of.empty()) of = "[" + of + ":, :]";
  const int64_t R = m.size(0), C = m.size(1);
  const int64_t er = (R + kMapSide - 1) / kMapSide, ec = (C + kMapSide - 1) / kMapSide;
  m = m.slice(0, 0, R, std::max<int64_t>(er, 1)).slice(1, 0, C, std::max<int64_t>(ec, 1)).contiguous();
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

}  // namespace

json summarize_tensor(const Tensor& t, bool picture) {
  if (!t.defined()) return nullptr;
  json j = {{"shape", t.shape()}, {"dtype", dtype_name(t.dtype())}};
  if (t.numel() == 0) return j;
  const Tensor x = t.to(DType::F64).contiguous();
  const double* p = x.data<double>();
  const int64_t n = x.numel();
  double lo = INFINITY, hi = -INFINITY, sum = 0, sq = 0;
  int64_t nan = 0, inf = 0, finite = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double v = p[i];
    if (std::isnan(v)) ++nan;
    else if (std::isinf(v)) ++inf;
    else lo = std::min(lo, v), hi = std::max(hi, v), sum += v, sq += v * v, ++finite;
  }
  if (finite == 0) lo = hi = 0;
  j["min"] = lo, j["max"] = hi;
  if (!is_floating(t.dtype())) return j;
  j["mean"] = finite ? sum / double(finite) : 0.0;
  j["rms"] = finite ? std::sqrt(sq / double(finite)) : 0.0;
  j["nan"] = nan, j["inf"] = inf;
  if (n == 1) j["value"] = p[0];
  if (!picture) return j;
  std::vector<int64_t> counts(kHistBins, 0);
  const double width = (hi - lo) / kHistBins;
  for (int64_t i = 0; i < n; ++i)
    if (std::isfinite(p[i])) counts[size_t(width > 0 ? std::min<int64_t>(int64_t((p[i] - lo) / width), kHistBins - 1) : 0)]++;
  j["hist"] = {{"lo", lo}, {"hi", hi}, {"counts", counts}};
  j["map"] = heatmap(x);
  return j;
}

}  // namespace loupe::tools
