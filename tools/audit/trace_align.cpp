#include "tools/audit/trace_align.h"

#include <algorithm>

namespace loupe::tools {

using nlohmann::json;

std::string align_key(const json& r) {
  std::string k = r.value("op", "") + "|" + r.value("pass", "") + "|" + r.value("module", "") + "|";
  for (const char* list : {"inputs", "outputs"}) {
    for (const json& t : r.value(list, json::array())) k += t.is_object() ? t.value("shape", json()).dump() : "-";
    k += "|";
  }
  return k;
}

bool align(const std::vector<std::string>& a, const std::vector<std::string>& b,
           std::vector<std::pair<int64_t, int64_t>>& pairs) {
  const int64_t N = int64_t(a.size()), M = int64_t(b.size()), off = N + M + 1;
  std::vector<int64_t> V(size_t(2 * off + 1), 0);
  std::vector<std::vector<int64_t>> trace;  // V[k] for k in [-D, D] before each round D
  for (int64_t D = 0; D <= std::min(N + M, kMaxEdits); ++D) {
    trace.emplace_back(V.begin() + (off - D), V.begin() + (off + D + 1));
    for (int64_t k = -D; k <= D; k += 2) {
      int64_t x = k == -D || (k != D && V[size_t(off + k - 1)] < V[size_t(off + k + 1)]) ? V[size_t(off + k + 1)]
                                                                                        : V[size_t(off + k - 1)] + 1;
      int64_t y = x - k;
      while (x < N && y < M && a[size_t(x)] == b[size_t(y)]) ++x, ++y;
      V[size_t(off + k)] = x;
      if (x < N || y < M) continue;
      // Walk the rounds back from (N, M): each round undoes one edit and the diagonal run
      // (equal keys: a kept pair) that followed it.
      for (int64_t d = D; d > 0; --d) {
        const auto& Vd = trace[size_t(d)];  // V after round d − 1, Vd[kk + d] for kk in [−d, d]
        const auto at = [&](int64_t kk) { return Vd[size_t(kk + d)]; };
        const int64_t prev_k = k == -d || (k != d && at(k - 1) < at(k + 1)) ? k + 1 : k - 1;
        const int64_t px = at(prev_k), py = px - prev_k;
        while (x > px && y > py) pairs.emplace_back(--x, --y);
        x = px, y = py, k = prev_k;
      }
      while (x > 0 && y > 0) pairs.emplace_back(--x, --y);
      std::reverse(pairs.begin(), pairs.end());
      return true;
    }
  }
  return false;
}

}  // namespace loupe::tools
