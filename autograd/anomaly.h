// Anomaly mode: after every op, forward and backward, the outputs are checked for NaN and Inf.
// At the first one, the op's inputs are dumped as .npy into the dump directory and an Error
// names the op, its module path, the step and the pass, and whether an input was already
// non-finite (so the blame lands on the op that created the first non-finite value). On, from
// start-up, with LOUPE_ANOMALY=1 (dumps to ./anomaly) or LOUPE_ANOMALY=DIR; `loupe train|eval
// --anomaly`; or for a scope with AnomalyScope.
#pragma once
#include <string>

namespace loupe {

class AnomalyScope {
 public:
  explicit AnomalyScope(std::string dump_dir = "anomaly");
  ~AnomalyScope();
  AnomalyScope(const AnomalyScope&) = delete;
  AnomalyScope& operator=(const AnomalyScope&) = delete;

 private:
  int hook_ = -1;
};

}  // namespace loupe
