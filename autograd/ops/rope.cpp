// Rotary position embedding (Su et al. 2021), interleaved-pair convention:
// the pair (x[2i], x[2i+1]) of each head at position p is rotated by p·θ_i,
// θ_i = base^(−2i/D). The backward rotates the gradient back by −p·θ_i.
#include <algorithm>
#include <cmath>
#include <map>
#include <mutex>
#include <tuple>
#include <utility>

#include "autograd/nn_ops.h"
#include "tensor/reference/mode.h"
#include "tensor/reference/rotate_pairs.h"
#include "tensor/parallel.h"

namespace loupe {

LOUPE_REGISTER_OP("rope");
LOUPE_REGISTER_OP("rotate_pairs");

// cos(p·θ_i) and sin(p·θ_i) for positions p in [p0, p0 + n), as [n, D/2] tensors of dtype dt.
// Each angle is computed in f64 and rounded once, so a row depends only on (p, D, base, dt).
// One table per (D, base, dt) is kept and regrown when a later position is asked for; the
// rows handed out are views of it (a caller's views stay valid after a regrowth).
static std::pair<Tensor, Tensor> angle_table(int64_t p0, int64_t n, int64_t D, double base, DType dt) {
  static std::mutex mu;
  static std::map<std::tuple<int64_t, double, DType>, std::pair<Tensor, Tensor>> tables;
  const int64_t half = D / 2, need = p0 + n;
  std::lock_guard<std::mutex> lock(mu);
  auto& [cs, sn] = tables[{D, base, dt}];
  if (!cs.defined() || cs.size(0) < need) {
    const int64_t rows = std::max<int64_t>(need, cs.defined() ? 2 * cs.size(0) : 64);
    Tensor c = Tensor::empty({rows, half}, DType::F64), s = Tensor::empty({rows, half}, DType::F64);
    for (int64_t t = 0; t < rows; ++t)
      for (int64_t i = 0; i < half; ++i) {
        const double ang = double(t) * std::pow(base, -2.0 * double(i) / double(D));
        c.data<double>()[t * half + i] = std::cos(ang);
        s.data<double>()[t * half + i] = std::sin(ang);
      }
    cs = c.to(dt);
    sn = s.to(dt);
  }
  return {cs.narrow(0, p0, n), sn.narrow(0, p0, n)};
}

// The pair turn shared by rope and rotate_pairs, op `op`: y = R(c, s) x per pair, with
// x [B, T, H, D] read through its B and T strides (each position's H·D values contiguous, as
// q and k are when they are views of one projection) and c, s [T, H, D/2] through their T and
// H strides (rope's table is broadcast over H). Backward: dx = Rᵀ g, and, when the angles need
// a gradient, dc = Σ_b (ge·xe + go·xo), ds = Σ_b (go·xe − ge·xo). One task per (t, h) row walks
// the batch in order, so the sums over b have a fixed order whatever the thread count.
static Var turn_pairs(const char* op, const Var& x, const Var& cos, const Var& sin) {
  const int64_t B = x.size(0), Tn = x.size(1), H = x.size(2), D = x.size(3), P2 = D / 2, rows = Tn * H;
  const DType dt = x.dtype();
  const Tensor& xv = x.value();
  const Tensor xc = xv.stride(3) == 1 && (H == 1 || xv.stride(2) == D) ? xv : xv.contiguous();
  auto angles = [](const Tensor& a) { return a.stride(2) == 1 || a.size(2) == 1 ? a : a.contiguous(); };
  const Tensor cc = angles(cos.value()), sc = angles(sin.value());
  const bool ref = reference::enabled();  // the textbook twin (tensor/reference/rotate_pairs.h)
  Tensor y = ref ? reference::rotate_pairs_forward(xc, cc, sc) : Tensor::empty(x.shape(), dt);
  if (!ref) LOUPE_DISPATCH(dt, T, {
    const T *xp = xc.data<T>(), *cp = cc.data<T>(), *sp = sc.data<T>();
    T* yp = y.data<T>();
    parallel_for(rows, 16, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        const int64_t t = r / H, h = r % H;
        const T *c = cp + t * cc.stride(0) + h * cc.stride(1), *s = sp + t * sc.stride(0) + h * sc.stride(1);
        for (int64_t b = 0; b < B; ++b) {
          const T* xr = xp + b * xc.stride(0) + t * xc.stride(1) + h * D;
          T* yr = yp + (b * rows + r) * D;
          for (int64_t i = 0; i < P2; ++i) {
            const T e = xr[2 * i], o = xr[2 * i + 1];
            yr[2 * i] = e * c[i] - o * s[i];
            yr[2 * i + 1] = e * s[i] + o * c[i];
          }
        }
      }
    });
  });
  const bool need_x = x.requires_grad(), need_cs = cos.requires_grad() || sin.requires_grad();
  const Shape cs_shape{Tn, H, P2};
  return make_result(op, y, {x, cos, sin}, [=](const Tensor& g) {
    const Tensor gc = g.contiguous();
    if (ref) {
      auto r = reference::rotate_pairs_backward(xc, cc, sc, gc);
      return std::vector<Tensor>{need_x ? r.dx : Tensor(), need_cs ? r.dcos : Tensor(), need_cs ? r.dsin : Tensor()};
    }
    Tensor dx = need_x ? Tensor::empty(x.shape(), dt) : Tensor();
    Tensor dcos = need_cs ? Tensor::empty(cs_shape, dt) : Tensor(), dsin = need_cs ? Tensor::empty(cs_shape, dt) : Tensor();
    LOUPE_DISPATCH(dt, T, {
      const T *xp = xc.data<T>(), *cp = cc.data<T>(), *sp = sc.data<T>(), *gp = gc.data<T>();
      T *dxp = need_x ? dx.data<T>() : nullptr, *dcp = need_cs ? dcos.data<T>() : nullptr, *dsp = need_cs ? dsin.data<T>() : nullptr;
      parallel_for(rows, 16, [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r) {
          const int64_t t = r / H, h = r % H;
          const T *c = cp + t * cc.stride(0) + h * cc.stride(1), *s = sp + t * sc.stride(0) + h * sc.stride(1);
          if (dcp) std::fill_n(dcp + r * P2, P2, T(0)), std::fill_n(dsp + r * P2, P2, T(0));
          for (int64_t b = 0; b < B; ++b) {
            const T* gr = gp + (b * rows + r) * D;
            if (dxp) {
              T* dxr = dxp + (b * rows + r) * D;
              for (int64_t i = 0; i < P2; ++i) {
                const T ge = gr[2 * i], go = gr[2 * i + 1];
                dxr[2 * i] = ge * c[i] + go * s[i];
                dxr[2 * i + 1] = go * c[i] - ge * s[i];
              }
            }
            if (!dcp) continue;
            const T* xr = xp + b * xc.stride(0) + t * xc.stride(1) + h * D;
            for (int64_t i = 0; i < P2; ++i) {
              const T ge = gr[2 * i], go = gr[2 * i + 1], e = xr[2 * i], o = xr[2 * i + 1];
              dcp[r * P2 + i] += ge * e + go * o;
              dsp[r * P2 + i] += go * e - ge * o;
            }
          }
        }
      });
    });
    return std::vector<Tensor>{dx, dcos, dsin};
  });
}

Var rope(const Var& x, int64_t pos_offset, double base) {
  LOUPE_CHECK(x.dim() == 4 && x.size(3) % 2 == 0, "rope: input must be [B, T, H, D] with D even, got ",
              x.value().str());
  LOUPE_CHECK(pos_offset >= 0 && base > 0, "rope: pos_offset must be >= 0 and base > 0, got ", pos_offset, ", ", base);
  const int64_t Tn = x.size(1), H = x.size(2), P2 = x.size(3) / 2;
  const auto [cs, sn] = angle_table(pos_offset, Tn, x.size(3), base, x.dtype());  // [T, D/2], broadcast over heads
  return turn_pairs("rope", x, Var(cs.unsqueeze(1).expand({Tn, H, P2})), Var(sn.unsqueeze(1).expand({Tn, H, P2})));
}

Var rotate_pairs(const Var& x, const Var& cos, const Var& sin) {
  LOUPE_CHECK(x.dim() == 4 && x.size(3) % 2 == 0, "rotate_pairs: x must be [B, T, H, D] with D even, got ",
              x.value().str());
  const Shape cs_shape{x.size(1), x.size(2), x.size(3) / 2};
  LOUPE_CHECK(cos.shape() == cs_shape && sin.shape() == cs_shape, "rotate_pairs: cos ", cos.value().str(), " and sin ",
              sin.value().str(), " must be ", shape_str(cs_shape), " for x ", x.value().str());
  LOUPE_CHECK(cos.dtype() == x.dtype() && sin.dtype() == x.dtype() && is_floating(x.dtype()),
              "rotate_pairs: x, cos, sin must share a float dtype");
  return turn_pairs("rotate_pairs", x, cos, sin);
}

}  // namespace loupe
