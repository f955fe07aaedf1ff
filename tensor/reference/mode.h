// Reference mode: when on, every fused op runs its textbook twin (tensor/reference/) instead
// of its fast kernel. Off by default; LOUPE_REFERENCE=1 in the environment turns it on at start-up.
#pragma once

namespace loupe::reference {

bool enabled();
void set_enabled(bool on);

// RAII: reference mode on (or off) for a scope.
class Scope {
 public:
  explicit Scope(bool on = true) : prev_(enabled()) { set_enabled(on); }
  ~Scope() { set_enabled(prev_); }
  Scope(const Scope&) = delete;
  Scope& operator=(const Scope&) = delete;

 private:
  bool prev_;
};

}  // namespace loupe::reference
