// Fused causal attention, flash-style (Dao et al. 2022): for each query row the
// keys are visited in tiles keeping a running max m and running sum l of
// exp(s - m) (online softmax), so no Tq x Tk score matrix is ever stored. The
// forward saves lse = m + log l per row; the backward recomputes each probability
// as exp(s - lse) and uses D_i = dO_i · O_i for the softmax Jacobian.
//
// Work is done in blocks of query rows against tiles of keys, each product a small
// register-blocked matrix product, so the inner loops are FMAs over whole vectors.
//
// Layout: q [B, H, Tq, D], k [B, Hkv, Tk, D], v [B, Hkv, Tk, Dv], o [B, H, Tq, Dv], each with
// its own strides for the B, H and T dims (the last dim is contiguous). Dv may differ from D. H % Hkv == 0: query head h
// reads kv head h / (H / Hkv). Query row i sits at position q_offset + i and sees keys
// j <= q_offset + i. Optional dropout on the probabilities, mask element
// ((b·H + h)·Tq + i)·Tk + j of the Philox stream (seed, counter).
// Textbook twin (plain f64 loops, selected by reference mode): tensor/reference/attention.h.
#pragma once
#include <cstdint>

namespace loupe::kernels {

struct AttnDims {
  int64_t B, H, Hkv, Tq, Tk, D, Dv;  // D: q and k width; Dv: v and output width
  int64_t q_offset;
  double scale;
  double dropout_p;
  uint64_t seed, counter;
};

template <typename T>
struct AttnRef {  // element (b, h, t, d) at p[b*sb + h*sh + t*st + d]
  T* p;
  int64_t sb, sh, st;
  T* at(int64_t b, int64_t h, int64_t t) const { return p + b * sb + h * sh + t * st; }
};

// o and lse [B, H, Tq] (contiguous) are written. Parallel over (b, h, block of query rows).
template <typename T>
void attention_forward(const AttnDims& d, AttnRef<const T> q, AttnRef<const T> k, AttnRef<const T> v, AttnRef<T> o,
                       T* lse);

// dq, dk, dv are fully written (dk, dv zeroed first). Parallel over (b, kv head): the query
// heads sharing a kv head are handled by one thread in a fixed order, so dk and dv
// accumulate deterministically.
template <typename T>
void attention_backward(const AttnDims& d, AttnRef<const T> q, AttnRef<const T> k, AttnRef<const T> v,
                        AttnRef<const T> o, AttnRef<const T> dout, const T* lse, AttnRef<T> dq, AttnRef<T> dk,
                        AttnRef<T> dv);

}  // namespace loupe::kernels
