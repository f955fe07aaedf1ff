#!/usr/bin/env python3
"""loupe beside the frameworks people train tiny transformers with on a CPU (issue 35, part 2).

  ./run peers [--config configs/gpt-baby.json ...] [--steps 100] [--repeats 3]
              [--loupe-avx2 build/isa-avx2/tools/loupe] [--md out.md] [--json out.json]

Every peer trains the same run: the same config, the same initial weights (`loupe train
--stop-after 0`), the same token batches (`loupe batches`), the same AdamW groups, schedule,
clipping and accumulation. The peers:
  loupe              `loupe bench train` (native build; --loupe-avx2 adds the x86-64-v3 build)
  torch eager        tools/reference/torch_train.py: PyTorch's default CPU kernels, attention
                     written out (softmax(q kᵀ/√d + mask) v), as nanoGPT's slow path
  torch sdpa         the same with F.scaled_dot_product_attention, as a user writes it today
  torch compile      torch.compile (inductor, generated C++); compile seconds reported apart
  jax jit            tools/reference/jax_train.py: the whole step under jax.jit (XLA CPU)
With --loupe-avx2, every peer runs again restricted to AVX2 beside loupe's AVX2 build: PyTorch
with ATEN_CPU_CAPABILITY=avx2, ONEDNN_MAX_CPU_ISA=AVX2 and MKL_ENABLE_INSTRUCTIONS=AVX2 (its
matmuls are MKL's; inductor's generated C++ reads the first), JAX with
XLA_FLAGS=--xla_cpu_max_isa=AVX2.

Each peer runs --repeats times, one after another on the same cores, nothing else running: one
warm-up step, then --steps timed ones. Reported: tokens/s (median and range), ms/step, peak RSS,
MFU (loupe's count of training FLOPs per token × tokens/s over the machine's FMA peak, the best of
5 probes: a peak is a maximum, and a low probe only means the machine was busy) and the loss
after the last step. The losses must agree (same data, same weights): a fast wrong run shows.
"""
import argparse
import datetime
import json
import math
import os
import shlex
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
TORCH_TRAIN = os.path.join(ROOT, "tools", "reference", "torch_train.py")
JAX_TRAIN = os.path.join(ROOT, "tools", "reference", "jax_train.py")
# PyTorch's CPU wheel computes its matmuls with MKL, which reads neither of the first two:
# without MKL_ENABLE_INSTRUCTIONS its GEMMs would still run AVX-512 in the "AVX2" rows.
AVX2_ENV = {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_ENABLE_INSTRUCTIONS": "AVX2"}
JAX_AVX2_ENV = {"XLA_FLAGS": "--xla_cpu_max_isa=AVX2"}


def run_json(cmd, env=None):
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=dict(os.environ, **(env or {})))
    if r.returncode != 0:
        sys.exit(f"peers: {' '.join(cmd)} failed:\n{r.stderr}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def fma_peak(loupe, probes):
    """The best of `probes` readings of the FP32 FMA peak on every thread, and all readings."""
    readings = [run_json([loupe, "bench", "peak", "--json"])["gflops_all"] for _ in range(probes)]
    return max(readings), readings


def peers_of(a):
    """(name, command builder, environment) of every peer asked for."""
    def loupe_cmd(binary):
        return lambda cfg, sets, batches: [binary, "bench", "train", "--config", cfg, *sets,
                                           "--steps", str(a.steps), "--json"]

    def torch_cmd(*flags):
        return lambda cfg, sets, batches: [sys.executable, TORCH_TRAIN, "--config", cfg, *sets, "--loupe", a.loupe,
                                           "--batches", batches, "--steps", str(a.steps + 1), "--eval-iters", "0",
                                           "--json", *flags]
    def jax_cmd(cfg, sets, batches):
        return [sys.executable, JAX_TRAIN, "--config", cfg, *sets, "--loupe", a.loupe, "--batches", batches,
                "--steps", str(a.steps + 1), "--json"]
    # Inductor caches the C++ it compiled under a key that leaves out ATEN_CPU_CAPABILITY: a cache
    # shared by the two ISAs hands one ISA's kernels to the other (seen 2026-12-07: NaN losses
    # from AVX2 runs, a heap corruption in a native one). Each ISA gets its own, fresh per call,
    # so the compile seconds reported are a cold compile's.
    native = {"TORCHINDUCTOR_CACHE_DIR": os.path.join(a.inductor_cache, "native")}
    avx2 = dict(AVX2_ENV, TORCHINDUCTOR_CACHE_DIR=os.path.join(a.inductor_cache, "avx2"))
    out = [("loupe", loupe_cmd(a.loupe), {}), ("torch eager", torch_cmd(), native),
           ("torch sdpa", torch_cmd("--sdpa"), native), ("torch compile", torch_cmd("--sdpa", "--compile"), native),
           ("jax jit", jax_cmd, {})]
    if a.loupe_avx2:
        out += [("loupe avx2", loupe_cmd(a.loupe_avx2), {}), ("torch eager avx2", torch_cmd(), avx2),
                ("torch sdpa avx2", torch_cmd("--sdpa"), avx2),
                ("torch compile avx2", torch_cmd("--sdpa", "--compile"), avx2), ("jax jit avx2", jax_cmd, JAX_AVX2_ENV)]
    return [p for p in out if not a.only or p[0] in a.only]


def measure(a, config, peaks):
    sets = [x for s in a.set for x in ("--set", s)]
    batches = os.path.join(a.work, os.path.basename(config) + ".batches.npy")
    # loupe bench train takes steps + 1 (one warm-up): the torch peers train on the same steps + 1 batches.
    run = subprocess.run([a.loupe, "batches", "--config", config, *sets, "--steps", str(a.steps + 1), "-o", batches],
                         capture_output=True, text=True, cwd=ROOT)
    if run.returncode != 0:
        sys.exit(f"peers: loupe batches failed:\n{run.stderr}")
    flops = run_json([a.loupe, "bench", "train", "--config", config, *sets, "--steps", "1", "--json"])["train_flops_per_token"]
    rows = []
    for name, cmd, env in peers_of(a):
        results = [run_json(cmd(config, sets, batches), env) for _ in range(a.repeats)]
        tps = [r["tokens_per_sec"] for r in results]
        med = statistics.median(tps)
        rows.append({"config": config, "peer": name, "tokens_per_sec": med, "min": min(tps), "max": max(tps),
                     "ms_per_step": statistics.median(r["ms_per_step"] for r in results),
                     "peak_rss_mib": max(r.get("peak_rss_mib", r.get("peak_rss_mb", 0)) for r in results),
                     "mfu_percent": 100.0 * flops * med / 1e9 / peaks["avx2" if "avx2" in name else "native"],
                     "loss": results[-1]["last_loss"],
                     "compile_seconds": max(r.get("compile_seconds", 0.0) for r in results),
                     "backend": results[-1].get("backend", "loupe")})
        print(f"[peers] {config} {name}: {med:.0f} tokens/s [{min(tps):.0f}-{max(tps):.0f}], "
              f"loss {rows[-1]['loss']:.6f}", file=sys.stderr)
    return rows


def agrees(loss, reference):
    """A peer's last loss agrees with loupe's when it is finite and within 1e-4 (relative)."""
    return math.isfinite(loss) and abs(loss - reference) <= 1e-4 * max(1.0, abs(reference))


def markdown(rows, meta):
    avx2 = f"; AVX2 rows against the AVX2 build's {meta['peak_avx2']:.1f}" if meta.get("peak_avx2") else ""
    out = [f"Measured {meta['date']} on {meta['cpu']}, {meta['threads']} threads; FMA peak {meta['peak']:.1f} GFLOP/s "
           f"(the best of {len(meta['peak_readings'])} probes: {', '.join(f'{x:.0f}' for x in meta['peak_readings'])}{avx2}). "
           f"{meta['steps']} timed steps after one warm-up, {meta['repeats']} run{'s' if meta['repeats'] != 1 else ''} each. Command: `{meta['command']}`.", "",
           "| config | peer | tokens/s (median [range]) | ms/step | MFU | peak RSS | loss after the last step | loupe is |",
           "|---|---|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        base = next(x for x in rows if x["config"] == r["config"] and x["peer"] == ("loupe avx2" if "avx2" in r["peer"] else "loupe"))
        extra = f" (+{r['compile_seconds']:.0f} s compile)" if r["compile_seconds"] > 0 else ""
        # A fast wrong run is no competitor: its loss is marked and it gets no ratio.
        ok = agrees(r["loss"], base["loss"])
        loss = f"{r['loss']:.6f}" if ok else f"**{r['loss']:.6f}: wrong** (loupe {base['loss']:.6f})"
        ratio = f"{base['tokens_per_sec'] / r['tokens_per_sec']:.2f}×" if ok else "—"
        out.append(f"| {os.path.basename(r['config'])} | {r['peer']} | {r['tokens_per_sec']:,.0f} [{r['min']:,.0f}–{r['max']:,.0f}]"
                   f"{extra} | {r['ms_per_step']:.1f} | {r['mfu_percent']:.0f}% | {r['peak_rss_mib']:.0f} MiB | "
                   f"{loss} | {ratio} |")
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", action="append", default=[], help="run configs (default: gpt-baby and llama-baby)")
    ap.add_argument("--set", action="append", default=["model.dropout=0.0"], help="section.key=value for every peer")
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--loupe", default=os.path.join(ROOT, "build", "release", "tools", "loupe"))
    ap.add_argument("--loupe-avx2", default="", help="loupe's -march=x86-64-v3 build (./run test-isa makes build/isa-avx2)")
    ap.add_argument("--only", action="append", default=[], help="run just these peers (repeatable)")
    ap.add_argument("--peak-probes", type=int, default=5)
    ap.add_argument("--work", default="/tmp", help="where the batch files go")
    ap.add_argument("--md", default="", help="write the table here too")
    ap.add_argument("--json", default="", help="write every row as JSON here")
    a = ap.parse_args()
    a.config = a.config or ["configs/gpt-baby.json", "configs/llama-baby.json"]
    # Each build against its own ISA's peak: the AVX2 rows against what loupe's AVX2 build measures.
    peak, readings = fma_peak(a.loupe, a.peak_probes)
    peaks = {"native": peak, "avx2": fma_peak(a.loupe_avx2, a.peak_probes)[0] if a.loupe_avx2 else peak}
    with tempfile.TemporaryDirectory(prefix="peers-inductor-", dir=a.work) as a.inductor_cache:
        rows = [r for c in a.config for r in measure(a, c, peaks)]
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "unknown CPU")
    meta = {"date": datetime.date.today().isoformat(), "cpu": cpu, "threads": os.cpu_count(), "peak": peak,
            "peak_avx2": peaks["avx2"] if a.loupe_avx2 else None,
            "peak_readings": readings, "steps": a.steps, "repeats": a.repeats,
            "command": "./run peers " + shlex.join(sys.argv[1:])}
    md = markdown(rows, meta)
    print(md)
    if a.md:
        open(a.md, "w").write(md)
    if a.json:
        json.dump({"meta": meta, "rows": rows}, open(a.json, "w"), indent=1)


if __name__ == "__main__":
    main()
