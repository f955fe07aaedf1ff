#include "tools/audit/trace_align.h"

#include <algorithm>
#include <unordered_map>

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

bool align(const std::vector<std::string>& ka, const std::vector<std::string>& kb,
           std::vector<std::pair<int64_t, int64_t>>& pairs) {
  // Keys as small integers: the inner loop compares ints, not strings.
  std::unordered_map<std::string, int32_t> ids;
  std::vector<int32_t> a, b;
  for (auto& k : ka) a.push_back(ids.emplace(k, int32_t(ids.size())).first->second);
  for (auto& k : kb) b.push_back(ids.emplace(k, int32_t(ids.size())).first->second);
  const int64_t N = int64_t(a.size()), M = int64_t(b.size()), off = N + M + 1;
  std::vector<int32_t> V(size_t(2 * off + 1), 0);  // V[off + k]: the furthest x reached on diagonal k
  // Before round d (≥ 1), the V of round d − 1 on its diagonals −(d−1), −(d−1)+2, ..., d−1: what
  // the walk back reads. D rounds keep about D²/2 ints (6000 edits: 72 MB).
  std::vector<std::vector<int32_t>> trace(1);
  for (int64_t D = 0; D <= std::min(N + M, kMaxEdits); ++D) {
    if (D > 0) {
      auto& saved = trace.emplace_back();
      for (int64_t k = -(D - 1); k <= D - 1; k += 2) saved.push_back(V[size_t(off + k)]);
    }
    for (int64_t k = -D; k <= D; k += 2) {
      int64_t x = k == -D || (k != D && V[size_t(off + k - 1)] < V[size_t(off + k + 1)]) ? V[size_t(off + k + 1)]
                                                                                        : V[size_t(off + k - 1)] + 1;
      int64_t y = x - k;
      while (x < N && y < M && a[size_t(x)] == b[size_t(y)]) ++x, ++y;
      V[size_t(off + k)] = int32_t(x);
      if (x < N || y < M) continue;
      // Walk the rounds back from (N, M): each round undoes one edit and the diagonal run
      // (equal keys: a kept pair) that followed it.
      for (int64_t d = D; d > 0; --d) {
        const auto& Vd = trace[size_t(d)];
        const auto at = [&](int64_t kk) { return int64_t(Vd[size_t((kk + d - 1) / 2)]); };
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
