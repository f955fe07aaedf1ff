// Fused causal attention op: forward and backward over the flash-style kernel
// (tensor/kernels/attention.cpp). Saves only the output and the per-row
// log-sum-exp; the backward recomputes the probabilities from them.
#include <cmath>

#include "autograd/attention_probe.h"
#include "autograd/nn_ops.h"
#include "tensor/kernels/attention.h"
#include "tensor/reference/attention.h"
#include "tensor/reference/mode.h"

namespace loupe {

LOUPE_REGISTER_OP("causal_attention");

// A [B, H, T, D] tensor whose last dim is contiguous (copies otherwise), as a kernel reference.
template <typename T>
static kernels::AttnRef<const T> cref(const Tensor& t) {
  return {t.data<T>(), t.stride(0), t.stride(1), t.stride(2)};
}
template <typename T>
static kernels::AttnRef<T> mref(const Tensor& t) {
  return {t.data<T>(), t.stride(0), t.stride(1), t.stride(2)};
}
static Tensor last_dim_contiguous(const Tensor& t) { return t.stride(3) == 1 || t.size(3) == 1 ? t : t.contiguous(); }
// A fresh [B, H, T, D] tensor stored as [B, T, H, D] (so transpose(1, 2) gives a contiguous view).
static Tensor empty_bthd(int64_t B, int64_t H, int64_t T, int64_t D, DType dt) {
  return Tensor::empty({B, T, H, D}, dt).permute({0, 2, 1, 3});
}

Var causal_attention(const Var& q, const Var& k, const Var& v, const AttentionOptions& opt) {
  LOUPE_CHECK(q.dim() == 4 && k.dim() == 4 && v.dim() == 4, "causal_attention: q, k, v must be [B, H, T, D], got ",
              q.value().str(), ", ", k.value().str(), ", ", v.value().str());
  const int64_t B = q.size(0), H = q.size(1), Tq = q.size(2), D = q.size(3), Hkv = k.size(1), Tk = k.size(2),
                Dv = v.size(3);
  LOUPE_CHECK(k.size(0) == B && v.size(0) == B && v.size(1) == Hkv && v.size(2) == Tk && k.size(3) == D && Hkv >= 1 &&
                  H % Hkv == 0,
              "causal_attention: shapes q ", q.value().str(), ", k ", k.value().str(), ", v ", v.value().str(),
              " do not fit (need q [B, H, Tq, D], k [B, Hkv, Tk, D], v [B, Hkv, Tk, Dv] with H % Hkv == 0)");
  LOUPE_CHECK(q.dtype() == k.dtype() && q.dtype() == v.dtype() && is_floating(q.dtype()),
              "causal_attention: q, k, v must share one float dtype");
  LOUPE_CHECK(opt.q_offset >= 0 && opt.q_offset + Tq <= Tk, "causal_attention: q_offset ", opt.q_offset, " + Tq ",
              Tq, " exceeds Tk ", Tk);
  LOUPE_CHECK(opt.dropout_p >= 0 && opt.dropout_p < 1, "causal_attention: dropout_p must be in [0, 1), got ",
              opt.dropout_p);
  const DType dt = q.dtype();
  const kernels::AttnDims dims{B, H, Hkv, Tq, Tk, D, Dv, opt.q_offset, opt.scale > 0 ? opt.scale : 1.0 / std::sqrt(double(D)),
                               opt.dropout_p, opt.seed, opt.counter};
  Tensor qc = last_dim_contiguous(q.value()), kc = last_dim_contiguous(k.value()), vc = last_dim_contiguous(v.value());
  Tensor out = empty_bthd(B, H, Tq, Dv, dt), lse = Tensor::empty({B, H, Tq}, dt);
  const bool ref = reference::enabled();  // the textbook twin (tensor/reference/attention.h)
  if (out.numel() > 0)
    LOUPE_DISPATCH(dt, T, (ref ? reference::attention_forward<T> : kernels::attention_forward<T>)(dims, cref<T>(qc), cref<T>(kc), cref<T>(vc), mref<T>(out),
                                                        lse.data<T>()));
  if (attention_probe_active() && out.numel() > 0)  // a picture was asked for (loupe audit attention)
    LOUPE_DISPATCH(dt, T, report_attention(reference::attention_probabilities<T>(dims, cref<T>(qc), cref<T>(kc))));
  return make_result("causal_attention", out, {q, k, v}, [=](const Tensor& g) {
    Tensor gc = last_dim_contiguous(g);
    Tensor dq = empty_bthd(B, H, Tq, D, dt), dk = empty_bthd(B, Hkv, Tk, D, dt), dv = empty_bthd(B, Hkv, Tk, Dv, dt);
    if (dk.numel() > 0) {
      if (dq.numel() == 0) {
        dk.fill_(0), dv.fill_(0);
      } else {
        LOUPE_DISPATCH(dt, T, (ref ? reference::attention_backward<T> : kernels::attention_backward<T>)(dims, cref<T>(qc), cref<T>(kc), cref<T>(vc), cref<T>(out),
                                                             cref<T>(gc), lse.data<T>(), mref<T>(dq), mref<T>(dk),
                                                             mref<T>(dv)));
      }
    }
    return std::vector<Tensor>{dq, dk, dv};
  });
}

}  // namespace loupe
