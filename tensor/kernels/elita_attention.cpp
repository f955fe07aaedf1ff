// ELiTA Attention2: stabilised O(n) cumulative-sum softmax, forward and backward.
// Equations in elita_attention.h. One (batch, head) is a sequential scan over
// time; the (batch, head) pairs run in parallel and never interact, so the
// result is bitwise identical for any thread count.
#include "tensor/kernels/elita_attention.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "tensor/kernels/lanes.h"
#include "tensor/parallel.h"

namespace loupe {

using kernels::exp1;  // xsimd's exp and log for one value (lanes.h): the same bits on every ISA
using kernels::log1;

ElitaState ElitaState::empty(int64_t batch, int64_t heads, int64_t head_dim, DType dtype) {
  ElitaState s;
  s.m = Tensor::full({batch, heads}, -std::numeric_limits<double>::infinity(), dtype);
  s.s = Tensor::zeros({batch, heads}, dtype);
  s.num = Tensor::zeros({batch, heads, head_dim}, dtype);
  return s;
}

int64_t ElitaState::bytes() const {
  int64_t n = 0;
  for (const Tensor* t : {&m, &s, &num})
    if (t->defined()) n += t->numel() * int64_t(dtype_size(t->dtype()));
  return n;
}

namespace {

// Element strides of a [B, T, H] tensor, or of the first three dims of a [B, T, H, Dh] one.
struct Strides3 {
  int64_t b, t, h;
  explicit Strides3(const Tensor& x) : b(x.stride(0)), t(x.stride(1)), h(x.stride(2)) {}
  int64_t at(int64_t bi, int64_t ti, int64_t hi) const { return bi * b + ti * t + hi * h; }
};

void check_inputs(const char* op, const Tensor& a, const Tensor& g, const Tensor& d, const Tensor& v) {
  LOUPE_CHECK(a.defined() && g.defined() && d.defined() && v.defined(), op, ": undefined input");
  LOUPE_CHECK(v.dim() == 4, op, ": values must be [B, T, H, Dh], got ", v.str());
  const Shape s3{v.size(0), v.size(1), v.size(2)};
  LOUPE_CHECK(a.shape() == s3 && g.shape() == s3 && d.shape() == s3, op, ": logits must be ", shape_str(s3),
              " to match values ", v.str(), ", got a ", a.str(), ", g ", g.str(), ", d ", d.str());
  LOUPE_CHECK(is_floating(v.dtype()) && a.dtype() == v.dtype() && g.dtype() == v.dtype() && d.dtype() == v.dtype(),
              op, ": all inputs must share one floating dtype, got a ", a.str(), ", g ", g.str(), ", d ", d.str(),
              ", v ", v.str());
}

// (batch, head) sequences per parallel chunk: about 16K multiply-adds each, so small
// problems (decoding one token, tests) stay on one thread. Depends only on the sizes.
int64_t grain_rows(int64_t n, int64_t dh) { return std::max<int64_t>(1, (1 << 14) / std::max<int64_t>(1, n * (dh + 4))); }

// Unit stride along the last dim (the head dim) so the vector loops are plain.
Tensor unit_last(const Tensor& x) { return x.stride(-1) == 1 || x.size(-1) == 1 ? x : x.contiguous(); }

template <typename T>
void forward_impl(const Tensor& a, const Tensor& g, const Tensor& d, const Tensor& v, Tensor& y, Tensor& lse,
                  ElitaState* state) {
  const int64_t B = v.size(0), n = v.size(1), H = v.size(2), Dh = v.size(3);
  const T *pa = a.data<T>(), *pg = g.data<T>(), *pd = d.data<T>(), *pv = v.data<T>();
  const Strides3 sa(a), sg(g), sd(d), sv(v);
  T *py = y.data<T>(), *pl = lse.data<T>();
  T *sm = state ? state->m.data<T>() : nullptr, *ss = state ? state->s.data<T>() : nullptr;
  T* snum = state ? state->num.data<T>() : nullptr;
  parallel_for(B * H, grain_rows(n, Dh), [&](int64_t r0, int64_t r1) {
    std::vector<T> num(static_cast<size_t>(Dh));
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t b = r / H, h = r % H;
      T m = state ? sm[r] : -std::numeric_limits<T>::infinity();
      T s = state ? ss[r] : T(0);
      if (state) std::copy(snum + r * Dh, snum + (r + 1) * Dh, num.begin());
      else std::fill(num.begin(), num.end(), T(0));
      for (int64_t t = 0; t < n; ++t) {
        const T at = pa[sa.at(b, t, h)], gt = pg[sg.at(b, t, h)], dt = pd[sd.at(b, t, h)];
        const T* vt = pv + sv.at(b, t, h);
        // Running sums, rescaled to the new running max.
        const T m_new = std::max(m, at);
        const T rescale = exp1(m - m_new);  // exp(-inf) = 0 for the first token
        const T e = exp1(at - m_new);
        s = s * rescale + e;
        for (int64_t k = 0; k < Dh; ++k) num[k] = num[k] * rescale + e * vt[k];
        m = m_new;
        // Combine the G and D terms in log space.
        const T big = std::max(dt, gt + m + log1(s));
        const T wd = exp1(dt - big), wg = exp1(gt + m - big);
        const T z = wd + wg * s;
        T* yt = py + ((b * n + t) * H + h) * Dh;
        const T inv = T(1) / z;
        for (int64_t k = 0; k < Dh; ++k) yt[k] = (wd * vt[k] + wg * num[k]) * inv;
        pl[(b * n + t) * H + h] = big + log1(z);
      }
      if (state) {
        sm[r] = m;
        ss[r] = s;
        std::copy(num.begin(), num.end(), snum + r * Dh);
      }
    }
  });
}

template <typename T>
void backward_impl(const Tensor& a, const Tensor& g, const Tensor& d, const Tensor& v, const Tensor& y,
                   const Tensor& lse, const Tensor& gy, ElitaGrads& out) {
  const int64_t B = v.size(0), n = v.size(1), H = v.size(2), Dh = v.size(3);
  const T *pa = a.data<T>(), *pg = g.data<T>(), *pd = d.data<T>(), *pv = v.data<T>();
  const T *py = y.data<T>(), *pl = lse.data<T>(), *pgy = gy.data<T>();
  const Strides3 sa(a), sg(g), sd(d), sv(v), sy(y), sl(lse), sgy(gy);
  T *da = out.da.data<T>(), *dg = out.dg.data<T>(), *dd = out.dd.data<T>(), *dv = out.dv.data<T>();
  parallel_for(B * H, grain_rows(n, Dh), [&](int64_t r0, int64_t r1) {
    std::vector<T> acc(static_cast<size_t>(Dh));  // R_j = Σ_{i≥j} e^{b_i − μ_j} gy_i
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t b = r / H, h = r % H;
      T mu = -std::numeric_limits<T>::infinity();
      T rs = 0;  // r_j = Σ_{i≥j} e^{b_i − μ_j} (gy_i·y_i)
      std::fill(acc.begin(), acc.end(), T(0));
      for (int64_t t = n - 1; t >= 0; --t) {
        const T* vt = pv + sv.at(b, t, h);
        const T* yt = py + sy.at(b, t, h);
        const T* gt = pgy + sgy.at(b, t, h);
        const T l = pl[sl.at(b, t, h)];
        T gv = 0, gyy = 0;
        for (int64_t k = 0; k < Dh; ++k) gv += gt[k] * vt[k], gyy += gt[k] * yt[k];
        // Diagonal and query logits.
        const T pdiag = exp1(pd[sd.at(b, t, h)] - l);
        const int64_t o3 = (b * n + t) * H + h;
        dd[o3] = pdiag * (gv - gyy);
        dg[o3] = -dd[o3];
        // Reverse cumulative sums gain query i = t, rescaled to the new reverse running max.
        const T bt = pg[sg.at(b, t, h)] - l;
        const T mu_new = std::max(mu, bt);
        const T rescale = exp1(mu - mu_new), e = exp1(bt - mu_new);
        for (int64_t k = 0; k < Dh; ++k) acc[k] = acc[k] * rescale + e * gt[k];
        rs = rs * rescale + e * gyy;
        mu = mu_new;
        // Key logit and value of position j = t.
        const T w = exp1(pa[sa.at(b, t, h)] + mu);
        T vr = 0;
        for (int64_t k = 0; k < Dh; ++k) vr += vt[k] * acc[k];
        da[o3] = w * (vr - rs);
        T* dvt = dv + o3 * Dh;
        for (int64_t k = 0; k < Dh; ++k) dvt[k] = pdiag * gt[k] + w * acc[k];
      }
    }
  });
}

}  // namespace

ElitaForwardResult elita_attention_forward(const Tensor& a, const Tensor& g, const Tensor& d, const Tensor& v_in,
                                           ElitaState* state) {
  check_inputs("elita_attention", a, g, d, v_in);
  const Tensor v = unit_last(v_in);
  const int64_t B = v.size(0), n = v.size(1), H = v.size(2), Dh = v.size(3);
  if (state) {
    LOUPE_CHECK(state->m.shape() == Shape({B, H}) && state->s.shape() == Shape({B, H}) &&
                    state->num.shape() == Shape({B, H, Dh}) && state->m.is_contiguous() &&
                    state->s.is_contiguous() && state->num.is_contiguous() && state->m.dtype() == v.dtype() &&
                    state->s.dtype() == v.dtype() && state->num.dtype() == v.dtype(),
                "elita_attention: state (m ", state->m.str(), ", s ", state->s.str(), ", num ", state->num.str(),
                ") does not fit values ", v.str());
  }
  ElitaForwardResult r{Tensor::empty(v.shape(), v.dtype()), Tensor::empty({B, n, H}, v.dtype())};
  LOUPE_DISPATCH(v.dtype(), T, forward_impl<T>(a, g, d, v, r.y, r.lse, state));
  return r;
}

ElitaGrads elita_attention_backward(const Tensor& a, const Tensor& g, const Tensor& d, const Tensor& v_in,
                                    const Tensor& y_in, const Tensor& lse, const Tensor& gy_in) {
  check_inputs("elita_attention backward", a, g, d, v_in);
  LOUPE_CHECK(y_in.shape() == v_in.shape() && gy_in.shape() == v_in.shape() && lse.shape() == a.shape() &&
                  y_in.dtype() == v_in.dtype() && gy_in.dtype() == v_in.dtype() && lse.dtype() == v_in.dtype(),
              "elita_attention backward: y ", y_in.str(), ", gy ", gy_in.str(), ", lse ", lse.str(),
              " do not fit values ", v_in.str());
  const Tensor v = unit_last(v_in), y = unit_last(y_in), gy = unit_last(gy_in);
  ElitaGrads r{Tensor::empty(a.shape(), a.dtype()), Tensor::empty(a.shape(), a.dtype()),
               Tensor::empty(a.shape(), a.dtype()), Tensor::empty(v.shape(), v.dtype())};
  LOUPE_DISPATCH(v.dtype(), T, backward_impl<T>(a, g, d, v, y, lse, gy, r));
  return r;
}

}  // namespace loupe
