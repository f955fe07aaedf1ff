#!/usr/bin/env python3
"""GEMM reference: GFLOP/s of numpy's float32 matmul (OpenBLAS) on the shapes of
tools/bench/bench_gemm.cpp and `loupe bench gemm`, for 1 and 2 threads.

Run it with the project's environment (.venv/bin/python3: PyPI's numpy, which carries its
own OpenBLAS build, scipy-openblas; the script prints which BLAS library is actually loaded). Run it with OPENBLAS_CORETYPE and
OPENBLAS_L2_SIZE unset, so OpenBLAS picks its own kernel and blocking for this CPU.
The thread count is set with OPENBLAS_NUM_THREADS, which OpenBLAS reads once at
load time; the script therefore re-runs itself once per thread count.

Usage: .venv/bin/python3 tools/reference/gemm_openblas.py [--threads 1 2] [--json] [--shapes square|tiny|train|all]
       [--coretype Haswell]
The machine may be shared: the best of several timed repetitions is reported.
"""
import argparse
import json
import os
import subprocess
import sys
import time

# (M, K, N, op(A) = Aᵀ, op(B) = Bᵀ): `loupe bench gemm --m M --n N --k K [--ta] [--tb]`.
SQUARE = [(256, 256, 256, False, False), (512, 512, 512, False, False), (1024, 1024, 1024, False, False),
          (2048, 2048, 2048, False, False)]
# Tiny-transformer shapes: qkv, attention out, MLP down, lm head, a larger batch qkv.
TINY = [(768, 128, 384, False, False), (768, 128, 128, False, False), (768, 512, 128, False, False),
        (768, 128, 65, False, False), (16384, 384, 1152, False, False)]
# Training shapes as loupe's matmul calls them (issue 12's table): x·Wᵀ forward (Bᵀ), the weight
# gradient dYᵀ·X (Aᵀ), gpt-shakespeare's long-K MLP down projection and qkv, its weight gradient.
TRAIN = [(1024, 1024, 1024, False, False), (768, 128, 384, False, True), (512, 768, 128, True, False),
         (16384, 1536, 384, False, True), (16384, 384, 1152, False, True), (384, 16384, 1536, True, False)]


def blas_library():
    """The BLAS shared object numpy actually loaded (from /proc/self/maps)."""
    try:
        with open("/proc/self/maps") as f:
            libs = {line.split()[-1] for line in f if "blas" in line.lower() and ".so" in line}
        return ", ".join(sorted(libs)) or "unknown"
    except OSError:
        return "unknown"


def bench(m, k, n, ta, tb, min_seconds=0.5):
    import numpy as np

    # A transposed operand is stored transposed and read through a view: numpy hands OpenBLAS
    # the transpose flag (no copy), as loupe's packing reads the strides.
    a = (np.arange(m * k, dtype=np.float32) % 17 - 8).reshape((k, m) if ta else (m, k)) / 8
    b = (np.arange(k * n, dtype=np.float32) % 13 - 6).reshape((n, k) if tb else (k, n)) / 6
    a, b = (a.T if ta else a), (b.T if tb else b)
    c = np.empty((m, n), dtype=np.float32)
    np.matmul(a, b, out=c)  # warm up
    threads = max(1, int(os.environ.get("OPENBLAS_NUM_THREADS", "1")))
    times, cpu_times = [], []
    start = time.perf_counter()
    while len(times) < 3 or time.perf_counter() - start < min_seconds:
        t0, c0 = time.perf_counter(), time.process_time()
        np.matmul(a, b, out=c)
        cpu_times.append((time.process_time() - c0) / threads)
        times.append(time.perf_counter() - t0)
    times.sort()
    flops = 2.0 * m * n * k
    # Like `loupe bench gemm`: best and median wall time, and the best rate by process CPU time
    # per thread (what the threads achieve while they run, on a machine shared with other work).
    return (flops / times[0] * 1e-9, flops / times[len(times) // 2] * 1e-9, len(times),
            flops / max(min(cpu_times), 1e-9) * 1e-9)


def child(shapes, as_json):
    import numpy as np

    threads = int(os.environ.get("OPENBLAS_NUM_THREADS", "0"))
    np.ones((4, 4), dtype=np.float32) @ np.ones((4, 4), dtype=np.float32)  # load BLAS
    if not as_json:
        print(f"# numpy {np.__version__}, BLAS: {blas_library()}, OPENBLAS_NUM_THREADS={threads}, "
              f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(its own choice)')}")
    for m, k, n, ta, tb in shapes:
        best, median, reps, best_cpu = bench(m, k, n, ta, tb)
        if as_json:
            print(json.dumps({"bench": "gemm_openblas", "m": m, "n": n, "k": k, "ta": ta, "tb": tb,
                              "threads": threads, "gflops": best, "gflops_median": median,
                              "gflops_cpu": best_cpu, "reps": reps}))
        else:
            ops = (" Aᵀ" if ta else "") + (" Bᵀ" if tb else "")
            print(f"openblas f32 m={m} n={n} k={k}{ops} threads={threads}: {best:.1f} GFLOP/s best, "
                  f"{median:.1f} median ({reps} reps); by CPU time {best_cpu:.1f} GFLOP/s")
        sys.stdout.flush()


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--shapes", choices=["square", "tiny", "train", "all"], default="all")
    p.add_argument("--json", action="store_true")
    p.add_argument("--coretype", help="force OpenBLAS's kernel family (e.g. Haswell: its AVX2 kernels, to set "
                   "beside loupe's -march=x86-64-v3 build on an AVX-512 CPU); default: OpenBLAS's own choice")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    shapes = {"square": SQUARE, "tiny": TINY, "train": TRAIN, "all": SQUARE + TINY + TRAIN}[args.shapes]
    if args.child:
        return child(shapes, args.json)
    for var in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
        if var in os.environ:
            sys.exit(f"gemm_openblas.py: unset {var} first (it overrides OpenBLAS's own tuning; "
                     "--coretype sets the kernel family explicitly)")
    for t in args.threads:
        env = dict(os.environ, OPENBLAS_NUM_THREADS=str(t))
        if args.coretype:
            env["OPENBLAS_CORETYPE"] = args.coretype
        cmd = [sys.executable, os.path.abspath(__file__), "--child", "--shapes", args.shapes]
        subprocess.run(cmd + (["--json"] if args.json else []), env=env, check=True)


if __name__ == "__main__":
    main()
