#!/usr/bin/env python3
"""Data-parallel training under mpirun, through the loupe binary, as a user runs it.

For every registered model type (its tiny fingerprint config, dropout on, f32):
  - 2 ranks × 1 thread with batch_size 4 give bitwise the weights and AdamW state of one process
    with batch_size 2 and grad_accum 2, on 2 threads and on 1, and the same losses in metrics.jsonl.
Then, on gpt:
  - with accumulation on the ranks too: 2 ranks × grad_accum 2 = one process × grad_accum 4;
  - resume across rank counts: 2 ranks stopped at step 3, resumed on 1 process (batch 2 ×
    grad_accum 2) and, the other way, 1 process resumed on 2 ranks, end as the straight run;
  - failures stop the whole job, at once, with one message from loupe and nothing written: a rank
    whose corpus is missing, a rank with another config, a batch the ranks cannot split, a rank
    killed while training.
Skipped (exit 77) when mpirun is missing, failed then under LOUPE_REQUIRE_ALL=1 (./run test, CI).

Usage: mpi_cli.py path/to/loupe [workdir]
"""
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time

LOUPE = os.path.abspath(sys.argv[1])
WORK = os.path.abspath(sys.argv[2]) if len(sys.argv) > 2 else tempfile.mkdtemp(prefix="loupe_mpi_cli_")
os.makedirs(WORK, exist_ok=True)
MPIRUN = shutil.which("mpirun")
failures = []

# mpirun refuses to run as root without this flag (CI runs as root); shared-memory single-copy
# needs ptrace rights that containers often lack, and the copy-in/out fallback gives the same bytes.
MPI_FLAGS = ["--oversubscribe", "--mca", "btl_vader_single_copy_mechanism", "none"]
if os.geteuid() == 0:
    MPI_FLAGS.append("--allow-run-as-root")


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what, flush=True)
    if not ok:
        failures.append(what)


def env(threads):
    e = dict(os.environ, OMP_NUM_THREADS=str(threads))
    e.pop("OMP_WAIT_POLICY", None)
    return e


def train(config, out, sets, threads=2, extra=()):
    args = [LOUPE, "train", "-c", config, "--out", out, "--quiet"] + list(extra)
    for s in sets:
        args += ["--set", s]
    return subprocess.run(args, capture_output=True, text=True, cwd=WORK, env=env(threads), timeout=300)


def mpi_train(ranks, config, out, sets, extra=(), timeout=300):
    args = [MPIRUN, "-np", str(ranks)] + MPI_FLAGS + ["--bind-to", "none",
            LOUPE, "train", "-c", config, "--out", out, "--quiet"] + list(extra)
    for s in sets:
        args += ["--set", s]
    return subprocess.run(args, capture_output=True, text=True, cwd=WORK, env=env(1), timeout=timeout)


def tensors(run_dir):
    """name -> raw bytes of every tensor in the run's checkpoint (model.* and optim.*)."""
    data = open(os.path.join(run_dir, "ckpt.safetensors"), "rb").read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    return {k: data[8 + n + v["data_offsets"][0]:8 + n + v["data_offsets"][1]]
            for k, v in header.items() if k != "__metadata__"}


def losses(run_dir):
    rows = [json.loads(l) for l in open(os.path.join(run_dir, "metrics.jsonl"))]
    return [(r["step"], r.get("loss"), r.get("val_loss"), r.get("train_loss")) for r in rows]


def same_run(a, b, what):
    ta, tb = tensors(a), tensors(b)
    differ = sorted(k for k in ta if ta[k] != tb.get(k))
    check(ta.keys() == tb.keys() and not differ and len(ta) > 0,
          what + ": checkpoints bitwise equal (%d tensors%s)" % (len(ta), ", differ: " + ", ".join(differ[:5]) if differ else ""))
    check(losses(a) == losses(b), what + ": same losses in metrics.jsonl")


def ran(p, what):
    ok = p.returncode == 0
    check(ok, what + " exits 0" + ("" if ok else ": " + (p.stderr[-2000:] or p.stdout[-2000:])))
    return ok


def loupe_errors(p):
    return [l for l in (p.stderr + p.stdout).splitlines() if "loupe: error" in l]


def main():
    if not MPIRUN:
        print("skip: no mpirun (apt-get install openmpi-bin)")
        return 1 if os.environ.get("LOUPE_REQUIRE_ALL") == "1" else 77
    probe = subprocess.run([MPIRUN, "-np", "1"] + MPI_FLAGS + [LOUPE, "train", "--help"],
                           capture_output=True, text=True, env=env(1))
    if probe.returncode != 0:
        check(False, "mpirun -np 1 loupe train --help: " + probe.stderr[-1000:])
        return 1
    listed = subprocess.run([LOUPE, "fingerprint", "--configs-only", "--dtype", "f32", "--dir", os.path.join(WORK, "tiny")],
                            capture_output=True, text=True, check=True).stdout.split()
    configs = {os.path.basename(os.path.dirname(c)).rsplit("-", 1)[0]: c for c in listed}
    check(len(configs) >= 6, "tiny configs for every model type: " + ", ".join(sorted(configs)))

    # Every model type: N ranks = one process accumulating the same micro-batches in rank order.
    for t, cfg in sorted(configs.items()):
        d = os.path.join(WORK, t)
        if not ran(mpi_train(2, cfg, d + "/ranks2", ["train.batch_size=4", "train.grad_accum=1"]), t + ": 2 ranks"):
            continue
        for threads in (2, 1):
            out = d + "/one%d" % threads
            if ran(train(cfg, out, ["train.batch_size=2", "train.grad_accum=2"], threads), t + ": 1 process"):
                same_run(d + "/ranks2", out, "%s: 2 ranks × 1 thread vs 1 process × %d thread(s), grad_accum 2" % (t, threads))

    gpt = configs["gpt"]
    g = os.path.join(WORK, "gpt-more")
    steps = ["train.max_iters=6", "train.eval_interval=3"]
    if ran(mpi_train(2, gpt, g + "/ranks2-accum2", steps + ["train.batch_size=4", "train.grad_accum=2"]), "2 ranks × accum 2") and \
            ran(train(gpt, g + "/one-accum4", steps + ["train.batch_size=2", "train.grad_accum=4"]), "1 process × accum 4"):
        same_run(g + "/ranks2-accum2", g + "/one-accum4", "2 ranks × grad_accum 2 vs 1 process × grad_accum 4")

    # Resume across rank counts.
    straight = g + "/straight"
    ran(train(gpt, straight, steps + ["train.batch_size=2", "train.grad_accum=2"]), "straight run")
    a = g + "/2to1"
    ran(mpi_train(2, gpt, a, steps + ["train.batch_size=4", "train.grad_accum=1"], extra=["--stop-after", "3"]), "2 ranks, stop after 3")
    if ran(train(gpt, a, steps + ["train.batch_size=2", "train.grad_accum=2"], extra=["--resume"]), "resume on 1 process"):
        same_run(straight, a, "checkpointed on 2 ranks, resumed on 1")
    b = g + "/1to2"
    ran(train(gpt, b, steps + ["train.batch_size=2", "train.grad_accum=2"], extra=["--stop-after", "3"]), "1 process, stop after 3")
    if ran(mpi_train(2, gpt, b, steps + ["train.batch_size=4", "train.grad_accum=1"], extra=["--resume"]), "resume on 2 ranks"):
        same_run(straight, b, "checkpointed on 1 process, resumed on 2 ranks")

    # Failures: the job stops at once, loupe says it once, nothing is written.
    def fails(p, what, needles, out, t0):
        errors = loupe_errors(p)
        seconds = time.time() - t0
        check(p.returncode != 0, what + ": exits non-zero (%d)" % p.returncode)
        check(len(errors) == 1 and all(n in errors[0] for n in needles),
              what + ": one loupe error naming %s: %s" % (needles, errors))
        check(seconds < 30, what + ": stops within seconds (%.1f s)" % seconds)
        check(not os.path.exists(os.path.join(out, "ckpt.safetensors")), what + ": no checkpoint written")

    good = json.load(open(gpt))
    good["train"]["batch_size"] = 4  # 2 rows per rank
    good_cfg = os.path.join(WORK, "good.json")
    json.dump(good, open(good_cfg, "w"))
    bad = json.loads(json.dumps(good))
    bad["data"]["corpus"] = os.path.join(WORK, "no-such-corpus.txt")
    bad_cfg = os.path.join(WORK, "bad-corpus.json")
    json.dump(bad, open(bad_cfg, "w"))
    out = g + "/missing"
    t0 = time.time()
    mpmd = [MPIRUN] + MPI_FLAGS + ["--bind-to", "none",
                                   "-np", "1", LOUPE, "train", "-c", good_cfg, "--out", out, "--quiet", ":",
                                   "-np", "1", LOUPE, "train", "-c", bad_cfg, "--out", out, "--quiet"]
    p = subprocess.run(mpmd, capture_output=True, text=True, cwd=WORK, env=env(1), timeout=120)
    fails(p, "rank 1 fed a missing corpus", ["rank 1", "no-such-corpus.txt"], out, t0)

    other = json.loads(json.dumps(good))
    other["train"]["lr"] = 1e-2
    other_cfg = os.path.join(WORK, "other-lr.json")
    json.dump(other, open(other_cfg, "w"))
    out = g + "/differ"
    t0 = time.time()
    mpmd[mpmd.index(bad_cfg)] = other_cfg
    mpmd = [out if x == g + "/missing" else x for x in mpmd]
    p = subprocess.run(mpmd, capture_output=True, text=True, cwd=WORK, env=env(1), timeout=120)
    fails(p, "ranks with different configs", ["differs between ranks", "rank(s) 1"], out, t0)

    out = g + "/odd"
    t0 = time.time()
    p = mpi_train(2, gpt, out, ["train.batch_size=5"], timeout=120)
    fails(p, "batch 5 on 2 ranks", ["batch_size 5", "2 ranks"], out, t0)

    # A rank killed while training: mpirun stops the job (no rank waits forever for it).
    out = g + "/killed"
    args = [MPIRUN, "-np", "2"] + MPI_FLAGS + ["--bind-to", "none", LOUPE, "train", "-c", gpt, "--out", out, "--quiet",
                                                "--set", "train.max_iters=1000000", "--set", "train.batch_size=4",
                                                "--set", "train.ckpt_interval=1000000", "--set", "train.eval_interval=1000000"]
    job = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=WORK, env=env(1))
    victim = None
    deadline = time.time() + 30
    while victim is None and time.time() < deadline and job.poll() is None:
        time.sleep(0.5)
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                cmd = open("/proc/%s/cmdline" % pid, "rb").read().split(b"\0")
                environ = open("/proc/%s/environ" % pid, "rb").read().split(b"\0")
            except OSError:
                continue
            if out.encode() in cmd and cmd[0].endswith(b"loupe") and b"OMPI_COMM_WORLD_RANK=1" in environ:
                victim = int(pid)
    check(victim is not None, "found rank 1 of the training job")
    if victim is not None:
        time.sleep(1.0)  # inside the training loop
        os.kill(victim, signal.SIGKILL)
        t0 = time.time()
        try:
            job.wait(timeout=60)
        except subprocess.TimeoutExpired:
            job.kill()
        check(job.returncode not in (None, 0), "rank 1 killed: the job exits non-zero (%s)" % job.returncode)
        check(time.time() - t0 < 30, "rank 1 killed: the job stops within seconds (%.1f s)" % (time.time() - t0))
    else:
        job.kill()
    job.communicate()

    print("%d failure(s)" % len(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
