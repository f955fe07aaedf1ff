// BLIS-style GEMM: C = alpha * A * B + beta * C.
//
// The five loops around the micro-kernel, named as in BLIS (Van Zee & van de Geijn 2015):
//   jc: NC-wide column panels of B and C
//    pc: KC-deep slices of K; pack B[pc, jc] into NR-wide micro-panels   (B panel in L2/L3)
//     ic: MC-tall row blocks of A and C; pack A[ic, pc] into MR-tall micro-panels (L2)
//      jr: one NR-wide micro-panel of packed B
//       ir: one MR-tall micro-panel of packed A -> micro-kernel updates an MR x NR tile of C
// Packing reads A and B through their general strides, so op(A) = Aᵀ costs nothing extra.
//
// Threads: C is cut into one rectangle per thread along the ic and jr loops (whole MR-row /
// NR-column panels); each thread runs the five loops on its rectangle with its own packing
// buffers, so threads never wait for each other inside a call.
//
// Determinism: every C element is produced by the same arithmetic whoever computes it: for
// each K block (cut from k alone) in increasing order, acc = fma(a[i,p], b[p,j], acc) over p,
// then c = fma(alpha, acc, beta' * c) (beta' = beta on the first block, 1 after). Edge tiles
// run the same kernel on zero-padded panels. So results are bitwise identical for any
// thread count.
#include "tensor/kernels/gemm.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <memory>
#include <type_traits>

#include <omp.h>
#include "tensor/simd.h"

#include "tensor/error.h"
#include "tensor/kernels/gemm_blocking.h"
#include "tensor/kernels/transpose_block.h"
#include "tensor/parallel.h"
#include "tensor/reference/gemm.h"
#include "tensor/reference/mode.h"

namespace loupe::kernels {
namespace {

// ---------------------------------------------------------------- packing buffers
// A 64-byte aligned scratch buffer that only grows; one per thread (thread_local), so
// steady-state GEMM calls allocate nothing.
struct ScratchBuffer {
  void* p = nullptr;
  size_t bytes = 0;
  ~ScratchBuffer() { std::free(p); }
  template <typename T>
  T* get(size_t count) {
    const size_t need = (count * sizeof(T) + 63) / 64 * 64;
    if (need > bytes) {
      std::free(p);
      p = std::aligned_alloc(64, need);
      LOUPE_CHECK(p != nullptr, "gemm: cannot allocate ", need, " bytes of packing buffer");
      bytes = need;
    }
    return static_cast<T*>(p);
  }
};
thread_local ScratchBuffer tls_pack_a, tls_pack_b;

// ---------------------------------------------------------------- packing
// A[mc x kc] -> ceil(mc/MR) micro-panels, each kc columns of MR values (rows past mc are 0).
template <typename T, int MR>
void pack_a(int64_t mc, int64_t kc, const T* a, int64_t rs, int64_t cs, T* dst) {
  for (int64_t i0 = 0; i0 < mc; i0 += MR, dst += MR * kc) {
    const int64_t mr = std::min<int64_t>(MR, mc - i0);
    const T* src = a + i0 * rs;
    if (cs == 1) {  // rows contiguous: a transpose, in register blocks where possible
      int64_t p0 = 0;
      constexpr int TB = kTransposeBlock;
      if constexpr (std::is_same_v<T, float> && TB > 0 && MR <= TB)
        for (; p0 + TB <= kc; p0 += TB) transpose_block(src + p0, rs, int(mr), dst + p0 * MR, MR, MR);
      for (int64_t i = 0; i < mr; ++i)
        for (int64_t p = p0; p < kc; ++p) dst[p * MR + i] = src[i * rs + p];
    } else {  // e.g. Aᵀ (rs == 1): each column holds MR contiguous values
      for (int64_t p = 0; p < kc; ++p) {
        // Columns lie cs apart, often more than a page: too far for the hardware's stride
        // prefetcher, so fetch a few columns ahead (a hint; it never faults).
        __builtin_prefetch(src + (p + 8) * cs);
        for (int64_t i = 0; i < mr; ++i) dst[p * MR + i] = src[i * rs + p * cs];
      }
    }
    for (int64_t i = mr; i < MR; ++i)
      for (int64_t p = 0; p < kc; ++p) dst[p * MR + i] = T(0);
  }
}

// B[kc x nc] -> ceil(nc/NR) micro-panels, each kc rows of NR values (columns past nc are 0).
template <typename T, int NR>
void pack_b(int64_t nc, int64_t kc, const T* b, int64_t rs, int64_t cs, T* dst) {
  using V = xsimd::batch<T>;
  constexpr int W = int(V::size);
  for (int64_t j0 = 0; j0 < nc; j0 += NR, dst += NR * kc) {
    const int64_t nr = std::min<int64_t>(NR, nc - j0);
    const T* src = b + j0 * cs;
    if (cs == 1 && nr == NR) {  // whole rows of the panel are contiguous: copy them as vectors
      for (int64_t p = 0; p < kc; ++p) {
        __builtin_prefetch(src + (p + 8) * rs);  // rows may lie pages apart (see pack_a)
#pragma GCC unroll 4
        for (int v = 0; v < NR / W; ++v) V::load_unaligned(src + p * rs + v * W).store_aligned(dst + p * NR + v * W);
      }
    } else if (cs == 1) {
      for (int64_t p = 0; p < kc; ++p) {
        for (int64_t j = 0; j < nr; ++j) dst[p * NR + j] = src[p * rs + j];
        for (int64_t j = nr; j < NR; ++j) dst[p * NR + j] = T(0);
      }
    } else {  // e.g. Bᵀ (rs == 1): read along columns; a transpose in register blocks where possible
      int64_t p0 = 0;
      constexpr int TB = kTransposeBlock;
      if constexpr (std::is_same_v<T, float> && whole_transpose_blocks(NR))
        if (rs == 1)
          for (; p0 + TB <= kc; p0 += TB)
            for (int64_t jb = 0; jb < NR; jb += TB)
              transpose_block(src + jb * cs + p0, cs, int(std::clamp<int64_t>(nr - jb, 0, TB)), dst + p0 * NR + jb,
                              NR, TB);
      for (int64_t j = 0; j < nr; ++j)
        for (int64_t p = p0; p < kc; ++p) dst[p * NR + j] = src[j * cs + p * rs];
      for (int64_t p = 0; p < kc; ++p)
        for (int64_t j = nr; j < NR; ++j) dst[p * NR + j] = T(0);
    }
  }
}

// ---------------------------------------------------------------- micro-kernel
// acc[MR x NR] = sum_p a[p, 0:MR]ᵀ b[p, 0:NR]: broadcast one A value, FMA it with NV vectors
// of B. Then out[i, j] = alpha * acc (beta == 0, out never read) or fma(alpha, acc, beta * out),
// with out row stride rso and unit column stride.
// Packed B rows are NRS values apart; an edge panel narrower than NRS uses fewer vectors (NV).
template <typename T, int MR, int NV, int NRS>
void micro_kernel(int64_t kc, const T* __restrict a, const T* __restrict b, T alpha, T beta, T* __restrict out,
                  int64_t rso) {
  using V = xsimd::batch<T>;
  constexpr int W = int(V::size), NR = NRS;
  // The tile of C is read (or written) only after the k loop: fetch its lines now, so that a C
  // evicted since the last K block arrives while the FMAs run (a hint; it never faults).
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i) __builtin_prefetch(out + i * rso), __builtin_prefetch(out + i * rso + NV * W - 1);
  V acc[MR][NV];
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[i][v] = V(T(0));
  for (int64_t p = 0; p < kc; ++p) {
    V bv[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) bv[v] = V::load_aligned(b + p * NR + v * W);
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) {
      const V ai(a[p * MR + i]);
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[i][v] = xsimd::fma(ai, bv[v], acc[i][v]);
    }
  }
  const V va(alpha), vb(beta);
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) {
      T* o = out + i * rso + v * W;
      if (beta == T(0))
        (va * acc[i][v]).store_unaligned(o);
      else
        xsimd::fma(va, acc[i][v], vb * V::load_unaligned(o)).store_unaligned(o);
    }
}

// One MR x NR tile of C. Full tiles with unit column stride are updated in place; edge tiles
// and strided C go through a small local tile (never touching C outside [0,mr) x [0,nr)),
// with the same rounding as the vector path.
// A narrow last panel (nr <= NV' vectors) runs the kernel with only NV' vectors per row.
template <typename T, int MR, int NV, int NRS>
void edge_kernel(int nv, int64_t kc, const T* a, const T* b, T* tile) {
  if constexpr (NV > 1)
    if (nv < NV) return edge_kernel<T, MR, NV - 1, NRS>(nv, kc, a, b, tile);
  micro_kernel<T, MR, NV, NRS>(kc, a, b, T(1), T(0), tile, NRS);
}

template <typename T, int MR, int NV>
void update_tile(int64_t mr, int64_t nr, int64_t kc, const T* a, const T* b, T alpha, T beta, T* c, int64_t rsc,
                 int64_t csc) {
  constexpr int W = int(xsimd::batch<T>::size), NR = NV * W;
  if (mr == MR && nr == NR && csc == 1) return micro_kernel<T, MR, NV, NR>(kc, a, b, alpha, beta, c, rsc);
  alignas(64) T tile[MR * NR];
  edge_kernel<T, MR, NV, NR>(int((nr + W - 1) / W), kc, a, b, tile);
  for (int64_t i = 0; i < mr; ++i)
    for (int64_t j = 0; j < nr; ++j) {
      T& dst = c[i * rsc + j * csc];
      dst = beta == T(0) ? alpha * tile[i * NR + j] : std::fma(alpha, tile[i * NR + j], beta * dst);
    }
}

// ---------------------------------------------------------------- the five loops
// C[m x n] (+)= alpha * A B on one thread, with that thread's own packing buffers.
template <typename T>
void gemm_serial(int64_t m, int64_t n, int64_t k, T alpha, MatRef<T> a, MatRef<T> b, T beta, T* c, int64_t rsc,
                 int64_t csc) {
  using Blk = GemmBlocking<T>;
  constexpr int MR = Blk::MR, NV = Blk::NV, NR = gemm_nr<T>;
  constexpr int64_t MC = Blk::MC, KC = Blk::KC, NC = Blk::NC;
  static_assert(MC % MR == 0 && NC % NR == 0, "blocking: MC and NC must be multiples of MR and NR");
  // K is cut into equal blocks of at most KC (a function of k alone: it fixes every C
  // element's summation order); M into equal blocks of at most MC (speed only).
  const int64_t kc_step = (k + (k + KC - 1) / KC - 1) / ((k + KC - 1) / KC);
  const int64_t m_blocks = (m + MC - 1) / MC, mc_step = ((m + m_blocks - 1) / m_blocks + MR - 1) / MR * MR;
  T* packed_a = tls_pack_a.get<T>(size_t(mc_step * kc_step));
  T* packed_b = tls_pack_b.get<T>(size_t(std::min<int64_t>(NC, (n + NR - 1) / NR * NR) * kc_step));

  for (int64_t jc = 0; jc < n; jc += NC) {  // ---- loop 5: jc
    const int64_t nc = std::min<int64_t>(NC, n - jc);
    for (int64_t pc = 0; pc < k; pc += kc_step) {  // ---- loop 4: pc
      const int64_t kc = std::min<int64_t>(kc_step, k - pc);
      const T beta_pc = pc == 0 ? beta : T(1);  // later K blocks accumulate onto C
      pack_b<T, NR>(nc, kc, b.p + pc * b.rs + jc * b.cs, b.rs, b.cs, packed_b);
      for (int64_t ic = 0; ic < m; ic += mc_step) {  // ---- loop 3: ic
        const int64_t mc = std::min<int64_t>(mc_step, m - ic);
        pack_a<T, MR>(mc, kc, a.p + ic * a.rs + pc * a.cs, a.rs, a.cs, packed_a);
        for (int64_t jr = 0; jr < nc; jr += NR) {  // ---- loop 2: jr
          const int64_t nr = std::min<int64_t>(NR, nc - jr);
          for (int64_t ir = 0; ir < mc; ir += MR) {  // ---- loop 1: ir
            const int64_t mr = std::min<int64_t>(MR, mc - ir);
            update_tile<T, MR, NV>(mr, nr, kc, packed_a + ir * kc, packed_b + jr * kc, alpha, beta_pc,
                                   c + (ic + ir) * rsc + (jc + jr) * csc, rsc, csc);
          }
        }
      }
    }
  }
}

// Threads split C into ways_m x ways_n rectangles (the ic and jr loops: whole MR-row and
// NR-column panels), and each runs the five loops on its own rectangle, packing the parts
// of A and B it needs itself. Threads never wait for each other inside a call (only the
// fork and join of one parallel region), which also keeps GEMM fast on a busy machine.
// The split is along the larger side, so the duplicated packing (the smaller operand,
// packed by every thread) stays a small fraction of the work.
struct Split {
  int ways_m = 1, ways_n = 1;
};

Split choose_split(int64_t m, int64_t n, int64_t k, int mr, int nr) {
  Split s;
  const int threads = omp_in_parallel() ? 1 : omp_get_max_threads();
  // Below ~1 MFLOP a parallel region costs more than it saves.
  if (threads == 1 || 2.0 * double(m) * double(n) * double(k) < 1.0e6) return s;
  const int64_t panels_m = (m + mr - 1) / mr, panels_n = (n + nr - 1) / nr;
  // Halve the thread count along M while N has more panels per thread; the rest go to N.
  s.ways_m = threads;
  while (s.ways_m % 2 == 0 && panels_n * s.ways_m > panels_m * s.ways_n * 2) {
    s.ways_m /= 2;
    s.ways_n *= 2;
  }
  s.ways_m = int(std::min<int64_t>(s.ways_m, panels_m));
  s.ways_n = int(std::min<int64_t>(s.ways_n, panels_n));
  return s;
}

// [begin, end) of part `id` of `parts` when `total` is cut into whole units of `unit`.
inline void part_range(int64_t total, int64_t unit, int id, int parts, int64_t& begin, int64_t& end) {
  const int64_t units = (total + unit - 1) / unit;
  begin = std::min(total, units * id / parts * unit);
  end = std::min(total, units * (id + 1) / parts * unit);
}

template <typename T>
void gemm_blocked(int64_t m, int64_t n, int64_t k, T alpha, MatRef<T> a, MatRef<T> b, T beta, T* c, int64_t rsc,
                  int64_t csc) {
  const Split split = choose_split(m, n, k, GemmBlocking<T>::MR, gemm_nr<T>);
  const int threads = split.ways_m * split.ways_n;
  if (threads == 1) return gemm_serial(m, n, k, alpha, a, b, beta, c, rsc, csc);
  note_parallel_region(__FILE__);
#pragma omp parallel for schedule(static) num_threads(threads)
  for (int t = 0; t < threads; ++t) {
    int64_t m0, m1, n0, n1;
    part_range(m, GemmBlocking<T>::MR, t % split.ways_m, split.ways_m, m0, m1);
    part_range(n, gemm_nr<T>, t / split.ways_m, split.ways_n, n0, n1);
    if (m0 < m1 && n0 < n1)
      gemm_serial(m1 - m0, n1 - n0, k, alpha, {a.p + m0 * a.rs, a.rs, a.cs}, {b.p + n0 * b.cs, b.rs, b.cs}, beta,
                  c + m0 * rsc + n0 * csc, rsc, csc);
  }
}

// C = beta * C (the whole product vanishes: alpha == 0 or k == 0); beta == 0 writes zeros.
template <typename T>
void scale_c(int64_t m, int64_t n, T beta, T* c, int64_t rsc, int64_t csc) {
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      T& dst = c[i * rsc + j * csc];
      dst = beta == T(0) ? T(0) : beta * dst;
    }
}

}  // namespace

template <typename T>
void gemm(int64_t m, int64_t n, int64_t k, T alpha, MatRef<T> a, MatRef<T> b, T beta, T* c, int64_t rsc, int64_t csc) {
  LOUPE_CHECK(m >= 0 && n >= 0 && k >= 0, "gemm: negative size m=", m, " n=", n, " k=", k);
  if (m == 0 || n == 0) return;
  if (k == 0 || alpha == T(0)) return scale_c(m, n, beta, c, rsc, csc);
  if (reference::enabled()) return reference::gemm(m, n, k, alpha, a, b, beta, c, rsc, csc);  // the textbook twin
  gemm_blocked(m, n, k, alpha, a, b, beta, c, rsc, csc);
}

template <typename T>
void gemm_batched(int64_t batch, int64_t m, int64_t n, int64_t k, T alpha, MatRef<T> a, int64_t stride_a,
                  MatRef<T> b, int64_t stride_b, T beta, T* c, int64_t rsc, int64_t csc, int64_t stride_c) {
  LOUPE_CHECK(batch >= 0, "gemm_batched: negative batch ", batch);
  LOUPE_CHECK(batch <= 1 || stride_c != 0 || m == 0 || n == 0,
              "gemm_batched: stride_c == 0 would make ", batch, " products write the same C");
  auto one = [&](int64_t i) {
    gemm<T>(m, n, k, alpha, {a.p + i * stride_a, a.rs, a.cs}, {b.p + i * stride_b, b.rs, b.cs}, beta,
            c + i * stride_c, rsc, csc);
  };
  // Small products: one whole product per thread (gemm runs serially inside the parallel
  // region). Large ones: one after another, each using all threads. Either way every C
  // element sees the same arithmetic, so the result does not depend on the thread count.
  const bool small = double(m) * double(n) * double(k) < 4.0e6;
  if (small && batch > 1) {
    parallel_for(batch, 1, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) one(i);
    });
  } else {
    for (int64_t i = 0; i < batch; ++i) one(i);
  }
}

template void gemm<float>(int64_t, int64_t, int64_t, float, MatRef<float>, MatRef<float>, float, float*, int64_t,
                          int64_t);
template void gemm<double>(int64_t, int64_t, int64_t, double, MatRef<double>, MatRef<double>, double, double*,
                           int64_t, int64_t);
template void gemm_batched<float>(int64_t, int64_t, int64_t, int64_t, float, MatRef<float>, int64_t, MatRef<float>,
                                  int64_t, float, float*, int64_t, int64_t, int64_t);
template void gemm_batched<double>(int64_t, int64_t, int64_t, int64_t, double, MatRef<double>, int64_t,
                                   MatRef<double>, int64_t, double, double*, int64_t, int64_t, int64_t);

}  // namespace loupe::kernels
