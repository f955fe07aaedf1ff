// Rotary position embedding (Su et al. 2021), interleaved-pair convention:
// the pair (x[2i], x[2i+1]) of each head at position p is rotated by p·θ_i,
// θ_i = base^(−2i/D). The backward rotates the gradient back by −p·θ_i.
#include <cmath>
#include <map>
#include <mutex>
#include <tuple>
#include <utility>

#include "autograd/nn_ops.h"
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
    cs = c.to(dt), sn = s.to(dt);
  }
  return {cs.narrow(0, p0, n), sn.narrow(0, p0, n)};
}

// x: [B, T, H, D] with each position's H·D values contiguous (strides sb, st for B and T);
// y: [B, T, H, D] contiguous; cos/sin: [T, D/2]. sign = +1 rotates forward, −1 back.
template <typename T>
static void rotate(const T* x, int64_t sb, int64_t st, T* y, const T* cs, const T* sn, int64_t B, int64_t Tn,
                   int64_t H, int64_t D, T sign) {
  const int64_t half = D / 2;
  parallel_for(B * Tn, 8, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t t = r % Tn;
      const T* c = cs + t * half;
      const T* s = sn + t * half;
      const T* xrow = x + (r / Tn) * sb + t * st;
      for (int64_t h = 0; h < H; ++h) {
        const T* xr = xrow + h * D;
        T* yr = y + (r * H + h) * D;
        for (int64_t i = 0; i < half; ++i) {
          const T a = xr[2 * i], b = xr[2 * i + 1], si = sign * s[i];
          yr[2 * i] = a * c[i] - b * si;
          yr[2 * i + 1] = a * si + b * c[i];
        }
      }
    }
  });
}

Var rope(const Var& x, int64_t pos_offset, double base) {
  LOUPE_CHECK(x.dim() == 4 && x.size(3) % 2 == 0, "rope: input must be [B, T, H, D] with D even, got ",
              x.value().str());
  LOUPE_CHECK(pos_offset >= 0 && base > 0, "rope: pos_offset must be >= 0 and base > 0, got ", pos_offset, ", ", base);
  const int64_t B = x.size(0), Tn = x.size(1), H = x.size(2), D = x.size(3), half = D / 2;
  const DType dt = x.dtype();
  const auto [cs, sn] = angle_table(pos_offset, Tn, D, base, dt);
  // Rows may be strided (q and k are views of one projection), each position's H·D values not.
  const Tensor& xv = x.value();
  const bool rows_ok = xv.stride(3) == 1 && (H == 1 || xv.stride(2) == D);
  const Tensor xc = rows_ok ? xv : xv.contiguous();
  Tensor y = Tensor::empty(x.shape(), dt);
  LOUPE_DISPATCH(dt, T, rotate<T>(xc.data<T>(), xc.stride(0), xc.stride(1), y.data<T>(), cs.data<T>(), sn.data<T>(), B,
                                  Tn, H, D, T(1)));
  return make_result("rope", y, {x}, [=](const Tensor& g) {
    Tensor gc = g.contiguous(), dx = Tensor::empty(gc.shape(), dt);
    LOUPE_DISPATCH(dt, T, rotate<T>(gc.data<T>(), gc.stride(0), gc.stride(1), dx.data<T>(), cs.data<T>(),
                                    sn.data<T>(), B, Tn, H, D, T(-1)));
    return std::vector<Tensor>{dx};
  });
}

// y = R(c, s) x per pair: forward, and backward dx = Rᵀ g, dc = Σ_b (ge·xe + go·xo),
// ds = Σ_b (go·xe − ge·xo). One task per (t, h) row: it walks the batch in order, so the sums
// over b have a fixed order whatever the thread count.
Var rotate_pairs(const Var& x, const Var& cos, const Var& sin) {
  LOUPE_CHECK(x.dim() == 4 && x.size(3) % 2 == 0, "rotate_pairs: x must be [B, T, H, D] with D even, got ",
              x.value().str());
  const int64_t B = x.size(0), Tn = x.size(1), H = x.size(2), D = x.size(3), P2 = D / 2;
  const Shape cs_shape{Tn, H, P2};
  LOUPE_CHECK(cos.shape() == cs_shape && sin.shape() == cs_shape, "rotate_pairs: cos ", cos.value().str(), " and sin ",
              sin.value().str(), " must be [", Tn, ", ", H, ", ", P2, "] for x ", x.value().str());
  const DType dt = x.dtype();
  LOUPE_CHECK(cos.dtype() == dt && sin.dtype() == dt && is_floating(dt), "rotate_pairs: x, cos, sin must share a float dtype");
  const Tensor xc = x.value().contiguous(), cc = cos.value().contiguous(), sc = sin.value().contiguous();
  Tensor y = Tensor::empty(x.shape(), dt);
  const int64_t rows = Tn * H, bstride = Tn * H * D;  // a (t, h) row of x: D values; batch b is bstride further
  LOUPE_DISPATCH(dt, T, {
    const T *xp = xc.data<T>(), *cp = cc.data<T>(), *sp = sc.data<T>();
    T* yp = y.data<T>();
    parallel_for(rows, 16, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r)
        for (int64_t b = 0; b < B; ++b) {
          const T* xr = xp + b * bstride + r * D;
          T* yr = yp + b * bstride + r * D;
          for (int64_t i = 0; i < P2; ++i) {
            const T c = cp[r * P2 + i], s = sp[r * P2 + i], e = xr[2 * i], o = xr[2 * i + 1];
            yr[2 * i] = e * c - o * s;
            yr[2 * i + 1] = e * s + o * c;
          }
        }
    });
  });
  const bool need_x = x.requires_grad(), need_cs = cos.requires_grad() || sin.requires_grad();
  return make_result("rotate_pairs", y, {x, cos, sin}, [=](const Tensor& g) {
    const Tensor gc = g.contiguous();
    Tensor dx = need_x ? Tensor::empty(xc.shape(), dt) : Tensor();
    Tensor dcos = need_cs ? Tensor::empty(cs_shape, dt) : Tensor(), dsin = need_cs ? Tensor::empty(cs_shape, dt) : Tensor();
    LOUPE_DISPATCH(dt, T, {
      const T *xp = xc.data<T>(), *cp = cc.data<T>(), *sp = sc.data<T>(), *gp = gc.data<T>();
      T* dxp = need_x ? dx.data<T>() : nullptr;
      T* dcp = need_cs ? dcos.data<T>() : nullptr;
      T* dsp = need_cs ? dsin.data<T>() : nullptr;
      parallel_for(rows, 16, [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r) {
          if (dcp)
            for (int64_t i = 0; i < P2; ++i) dcp[r * P2 + i] = T(0), dsp[r * P2 + i] = T(0);
          for (int64_t b = 0; b < B; ++b) {
            const T* xr = xp + b * bstride + r * D;
            const T* gr = gp + b * bstride + r * D;
            for (int64_t i = 0; i < P2; ++i) {
              const T c = cp[r * P2 + i], s = sp[r * P2 + i], ge = gr[2 * i], go = gr[2 * i + 1];
              if (dxp) {
                T* dxr = dxp + b * bstride + r * D;
                dxr[2 * i] = ge * c + go * s;
                dxr[2 * i + 1] = go * c - ge * s;
              }
              if (dcp) {
                const T e = xr[2 * i], o = xr[2 * i + 1];
                dcp[r * P2 + i] += ge * e + go * o;
                dsp[r * P2 + i] += go * e - ge * o;
              }
            }
          }
        }
      });
    });
    return std::vector<Tensor>{dx, dcos, dsin};
  });
}

}  // namespace loupe
