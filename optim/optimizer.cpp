#include "optim/optimizer.h"

#include <algorithm>
#include <set>

#include "tensor/parallel.h"

namespace loupe::optim {

Optimizer::Optimizer(std::vector<ParamGroup> groups, std::vector<std::string> slot_names, const char* name)
    : slot_names_(std::move(slot_names)), name_(name) {
  std::set<std::string> seen;
  for (auto& g : groups) {
    for (auto& [pname, p] : g.params) {
      LOUPE_CHECK(p.defined(), name_, ": parameter '", pname, "' is undefined");
      LOUPE_CHECK(is_floating(p.dtype()), name_, ": parameter '", pname, "' is ", p.value().str(),
                  ", expected f32 or f64");
      LOUPE_CHECK(p.value().is_contiguous(), name_, ": parameter '", pname, "' is not contiguous");
      LOUPE_CHECK(seen.insert(pname).second, name_, ": parameter '", pname, "' appears twice");
      Entry e{pname, p, g.lr_scale, g.weight_decay, {}};
      for (size_t s = 0; s < slot_names_.size(); ++s) e.slots.push_back(Tensor::zeros(p.shape(), p.dtype()));
      entries_.push_back(std::move(e));
    }
  }
}

void Optimizer::step(double grad_scale) {
  NoGrad ng;
  ++t_;
  // Every parameter cut into kUpdateGrain chunks, all run in one parallel loop (one fork and
  // join per step, not one per parameter; dynamic, since the chunks differ in size). A chunk's
  // elements see the same arithmetic whichever thread runs it.
  struct Chunk {
    size_t entry;
    int64_t begin, end;
  };
  std::vector<Tensor> grads(entries_.size());
  std::vector<Chunk> chunks;
  for (size_t i = 0; i < entries_.size(); ++i) {
    const Entry& e = entries_[i];
    const Tensor& g = e.param.grad();
    if (!g.defined()) continue;  // no gradient reached this parameter: leave it (and its state) alone
    const Tensor& v = e.param.value();
    LOUPE_CHECK(g.shape() == v.shape(), name_, ": grad of '", e.name, "' is ", g.str(), ", parameter is ", v.str());
    grads[i] = g.dtype() == v.dtype() ? g.contiguous() : g.to(v.dtype()).contiguous();
    for (int64_t b = 0; b < v.numel(); b += kUpdateGrain) chunks.push_back({i, b, std::min(v.numel(), b + kUpdateGrain)});
  }
  const int64_t n = int64_t(chunks.size());
  if (n > 1 && omp_get_max_threads() > 1) note_parallel_region(__FILE__);
#pragma omp parallel for schedule(dynamic, 1) if (n > 1)
  for (int64_t c = 0; c < n; ++c) {
    Entry& e = entries_[chunks[size_t(c)].entry];
    update(e.param.value(), grads[chunks[size_t(c)].entry], e.slots, lr_ * e.lr_scale, e.weight_decay, grad_scale, t_,
           chunks[size_t(c)].begin, chunks[size_t(c)].end);
  }
}

void Optimizer::zero_grad() {
  for (auto& e : entries_) e.param.zero_grad();
}

std::map<std::string, Tensor> Optimizer::state_dict() const {
  std::map<std::string, Tensor> sd;
  for (auto& e : entries_)
    for (size_t s = 0; s < slot_names_.size(); ++s) sd[e.name + "." + slot_names_[s]] = e.slots[s];
  sd["step"] = Tensor::from_ints({t_}, {});
  return sd;
}

void Optimizer::load_state_dict(const std::map<std::string, Tensor>& sd) {
  size_t used = 0;
  auto find = [&](const std::string& key) -> const Tensor& {
    auto it = sd.find(key);
    LOUPE_CHECK(it != sd.end(), name_, " state: missing '", key, "'");
    ++used;
    return it->second;
  };
  const Tensor& st = find("step");
  LOUPE_CHECK(st.dtype() == DType::I64 && st.numel() == 1, name_, " state: 'step' is ", st.str(), ", expected i64[]");
  for (auto& e : entries_)
    for (size_t s = 0; s < slot_names_.size(); ++s) {
      const std::string key = e.name + "." + slot_names_[s];
      const Tensor& src = find(key);
      LOUPE_CHECK(src.shape() == e.slots[s].shape() && src.dtype() == e.slots[s].dtype(), name_, " state: '", key,
                  "' is ", src.str(), ", expected ", e.slots[s].str());
    }
  if (used != sd.size()) {
    std::string extra;
    for (auto& [k, _] : sd) {
      bool known = k == "step";
      for (auto& e : entries_)
        for (auto& s : slot_names_) known = known || k == e.name + "." + s;
      if (!known) extra += (extra.empty() ? "'" : ", '") + k + "'";
    }
    LOUPE_CHECK(false, name_, " state: unexpected keys ", extra);
  }
  // All checked: now copy (never half-load).
  for (auto& e : entries_)
    for (size_t s = 0; s < slot_names_.size(); ++s) e.slots[s].copy_(sd.at(e.name + "." + slot_names_[s]));
  t_ = int64_t(st.item());
}

}  // namespace loupe::optim
