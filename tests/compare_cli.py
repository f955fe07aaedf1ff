#!/usr/bin/env python3
"""`loupe compare` through the binary: equal budgets (steps, tokens, minutes), seeds, the report
files, reuse of finished runs (in place and from an earlier report), bit-exact continuation of
interrupted ones, bad input.

Usage: compare_cli.py path/to/loupe SOURCE_ROOT
"""
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile

LOUPE, ROOT = os.path.abspath(sys.argv[1]), sys.argv[2]
failures = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        failures.append(what)


def compare(*args):
    return subprocess.run([LOUPE, "compare", *args], capture_output=True, text=True, cwd=ROOT)


def report(out):
    with open(os.path.join(out, "compare.json")) as f:
        return json.load(f)


tmp = tempfile.mkdtemp(prefix="compare_cli_")
try:
    corpus = os.path.join(ROOT, "data", "tinyshakespeare.txt")
    cfgs = {}
    for name, model, batch in (("gpt-t", {"type": "gpt", "dropout": 0.1}, 8), ("llama-t", {"type": "llama"}, 4)):
        model.update({"n_layer": 1, "n_head": 2, "n_embd": 32, "block_size": 32})
        cfg = {"model": model, "data": {"corpus": corpus, "tokenizer": "char", "val_fraction": 0.1,
                                        "cache_dir": os.path.join(tmp, "cache")},
               "train": {"batch_size": batch, "max_iters": 1000, "lr": 3e-3, "eval_iters": 2, "warmup_iters": 50}}
        cfgs[name] = os.path.join(tmp, name + ".json")
        with open(cfgs[name], "w") as f:
            json.dump(cfg, f)
    both = ["-c", cfgs["gpt-t"], "-c", cfgs["llama-t"]]

    # 1. An equal token budget: 2,560 tokens = 10 steps of 8 × 32, 20 steps of 4 × 32.
    a = os.path.join(tmp, "a")
    r = compare(*both, "--seeds", "2", "--tokens", "2560", "--out", a)
    check(r.returncode == 0, "compare --tokens trains 2 configs × 2 seeds" + (": " + r.stderr[-400:] if r.returncode else ""))
    j = report(a)
    steps = {c["name"]: (c["steps"], c["tokens"]) for c in j["configs"]}
    check(steps == {"gpt-t": (10, 2560), "llama-t": (20, 2560)}, f"equal tokens, steps per config: {steps}")
    runs = [run for c in j["configs"] for run in c["runs"]]
    check(len(runs) == 4 and all(math.isfinite(x["val_loss"]) and 0 < x["val_loss"] < 5 for x in runs),
          "four runs with finite val losses")
    check([x["seed"] for x in runs] == [1337, 1338, 1337, 1338], "seeds are train.seed + k")
    check(all(c["val_loss_sd"] > 0 for c in j["configs"]), "two seeds give two results (sd > 0)")
    with open(os.path.join(a, "runs", "gpt-t", "seed0", "data.json")) as f:
        d = json.load(f)
    check(all(x["val_tokens"] == d["tokens"] - d["train_tokens"] - 1 for x in runs),
          "validation covers every token of the split")
    check(all(len(x["curve"]) >= 10 and x["curve"][-1][0] == 2560 for x in runs), "curves end at the token budget")
    with open(os.path.join(a, "compare.md")) as f:
        md = f.read()
    check("loupe compare -c " in md and "--tokens 2560" in md and "| gpt-t |" in md and "±" in md,
          "compare.md holds the command and one row per config")
    with open(os.path.join(a, "curves.svg")) as f:
        svg = f.read()
    check(svg.startswith("<svg") and "tokens seen" in svg and svg.count("<polyline") == 6,
          "curves.svg: a mean and a min/max pair per config")
    with open(os.path.join(a, "runs", "llama-t", "seed1", "run.json")) as f:
        run_cfg = json.load(f)
    t = run_cfg["train"]
    check(t["max_iters"] == 20 and t["lr_decay_iters"] == 20 and t["warmup_iters"] == 2 and t["eval_interval"] == 1,
          "the schedule is fitted to the budget")

    # 2. The same command again reuses every run.
    r = compare(*both, "--seeds", "2", "--tokens", "2560", "--out", a)
    check(r.returncode == 0 and r.stderr.count("done before") == 4 and report(a)["configs"] == j["configs"],
          "a second run of the command reuses all four runs")

    # 3. Interrupted: --max-runs 1, then one run stopped at step 7 by hand; the same command finishes
    #    them, and every val loss is bitwise the uninterrupted comparison's.
    b = os.path.join(tmp, "b")
    r = compare(*both, "--seeds", "2", "--tokens", "2560", "--out", b, "--max-runs", "1")
    check(r.returncode == 0 and "3 runs left" in r.stderr and len(report(b)["configs"][0]["runs"]) == 1,
          "--max-runs 1 trains one run and writes a partial report")
    # Write run.json as compare would and stop that run part-way.
    seed_dir = os.path.join(b, "runs", "llama-t", "seed0")
    os.makedirs(seed_dir, exist_ok=True)
    shutil.copy(os.path.join(a, "runs", "llama-t", "seed0", "run.json"), seed_dir)
    s = subprocess.run([LOUPE, "train", "-c", os.path.join(seed_dir, "run.json"), "--out", seed_dir, "--stop-after", "7",
                        "-q"], capture_output=True, text=True, cwd=ROOT)
    check(s.returncode == 0, "a run stopped by hand at step 7")

    def elapsed(rows):
        return max([x["elapsed_s"] for x in rows if "elapsed_s" in x] or [0.0])

    def metrics_rows():
        with open(os.path.join(seed_dir, "metrics.jsonl")) as fh:
            return [json.loads(line) for line in fh if line.strip()]

    first_part = elapsed(metrics_rows())
    r = compare(*both, "--seeds", "2", "--tokens", "2560", "--out", b)
    check(r.returncode == 0 and "resuming" in r.stderr, "the same command resumes the interrupted run")
    # Its wall time is what the run logged, the part before the interruption included.
    rows = metrics_rows()
    wall = [x["wall_seconds"] for c in report(b)["configs"] if c["name"] == "llama-t" for x in c["runs"]
            if x["seed_index"] == 0]
    check(first_part > 0 and elapsed([x for x in rows if x["step"] >= 7]) > first_part and wall == [elapsed(rows)],
          f"the interrupted run's wall time counts both parts (first {first_part:.3f} s, recorded {wall})")
    va = [x["val_loss"] for c in report(a)["configs"] for x in c["runs"]]
    vb = [x["val_loss"] for c in report(b)["configs"] for x in c["runs"]]
    check(va == vb, f"interrupted and resumed runs end with bitwise the same val losses ({vb})")

    # 3b. --jobs 2: two runs at a time, each on half the threads with its own log; bitwise the same.
    jb = os.path.join(tmp, "jobs")
    r = compare(*both, "--seeds", "2", "--tokens", "2560", "--out", jb, "--jobs", "2")
    ok = r.returncode == 0
    if ok:
        vj = [x["val_loss"] for c in report(jb)["configs"] for x in c["runs"]]
        with open(os.path.join(jb, "runs", "llama-t", "seed1", "train.log")) as fh:
            log = fh.read()
        ok = vj == va and "2 runs at a time" in report(jb)["machine"] and "step 20" in log and "--jobs" not in report(jb)["command"]
    check(ok, "--jobs 2 gives bitwise the same val losses, each run logged" + (": " + r.stderr[-300:] if not ok else ""))
    bad = os.path.join(tmp, "bad-corpus.json")
    with open(cfgs["gpt-t"]) as fh:
        bc = json.load(fh)
    bc["data"]["corpus"] = os.path.join(tmp, "no-such-corpus.txt")
    with open(bad, "w") as fh:
        json.dump(bc, fh)
    jf = os.path.join(tmp, "jobs-fail")
    r = compare("-c", bad, "-c", cfgs["llama-t"], "--seeds", "1", "--steps", "20", "--out", jf, "--jobs", "2")
    check(r.returncode != 0 and "bad-corpus seed 1337" in r.stderr and "train.log" in r.stderr
          and os.path.exists(os.path.join(jf, "runs", "llama-t", "seed0", "result.json")),
          "--jobs 2: a failing run is reported with its log after the other run finishes")

    # 4. --steps and --minutes; the minutes become steps once and are kept.
    c = os.path.join(tmp, "c")
    r = compare("-c", cfgs["gpt-t"], "--seeds", "1", "--minutes", "0.03", "--out", c)
    ok = r.returncode == 0
    if ok:
        with open(os.path.join(c, "runs", "gpt-t", "budget.json")) as f:
            bj = json.load(f)
        ok = bj["steps"] >= 1 and report(c)["configs"][0]["steps"] == bj["steps"]
        r2 = compare("-c", cfgs["gpt-t"], "--seeds", "1", "--minutes", "0.03", "--out", c)
        ok = ok and r2.returncode == 0 and "timing" not in r2.stderr and "done before" in r2.stderr
    check(ok, "--minutes: measured once, converted to steps, reused" + (": " + r.stderr[-300:] if r.returncode else ""))
    r = compare("-c", cfgs["gpt-t"], "--seeds", "1", "--steps", "5", "--out", os.path.join(tmp, "d"))
    check(r.returncode == 0 and report(os.path.join(tmp, "d"))["configs"][0]["tokens"] == 5 * 256, "--steps 5")

    # 5. Per-config overrides: one file, two rows (an ablation), each named after its override.
    f = os.path.join(tmp, "f")
    r = compare("-c", cfgs["gpt-t"], "-c", cfgs["gpt-t"] + ":model.n_layer=2,train.lr=0.001", "--seeds", "1",
                "--steps", "3", "--out", f)
    ok = r.returncode == 0
    if ok:
        names = [c["name"] for c in report(f)["configs"]]
        with open(os.path.join(f, "runs", "gpt-t.n_layer=2.lr=0.001", "seed0", "run.json")) as fh:
            rj = json.load(fh)
        ok = names == ["gpt-t", "gpt-t.n_layer=2.lr=0.001"] and rj["model"]["n_layer"] == 2 and rj["train"]["lr"] == 0.001
        ok = ok and report(f)["configs"][1]["parameters"] > report(f)["configs"][0]["parameters"]
    check(ok, "-c FILE:section.key=value rows" + (": " + r.stderr[-300:] if r.returncode else ""))

    # 6. --reuse: runs from an earlier report with the same run config and seed are taken, not retrained
    #    (and keep their machine); a different run config, or a report without run configs, is retrained.
    g, h = os.path.join(tmp, "g"), os.path.join(tmp, "h")
    r = compare("-c", cfgs["gpt-t"], "--seeds", "1", "--steps", "3", "--out", g)
    check(r.returncode == 0, "an earlier one-seed report")
    earlier = report(g)
    earlier["configs"][0]["runs"][0]["machine"] = "Other CPU, 9 threads"
    moved = os.path.join(tmp, "earlier.json")  # the committed copy of a report, its runs directory gone
    with open(moved, "w") as fh:
        json.dump(earlier, fh)
    r = compare("-c", cfgs["gpt-t"], "--seeds", "2", "--steps", "3", "--reuse", moved, "--out", h)
    ok = r.returncode == 0 and r.stderr.count("reused from") == 1 and r.stderr.count("training 3 steps") == 1
    if ok:
        runs = report(h)["configs"][0]["runs"]
        with open(os.path.join(h, "compare.md")) as fh:
            md = fh.read()
        ok = runs[0] == earlier["configs"][0]["runs"][0] and runs[1]["seed"] == 1338 and runs[1]["machine"] != ""
        ok = ok and "| machine |" in md and "| Other CPU, 9 threads |" in md and "--reuse" not in md
        ok = ok and report(h)["configs"][0]["run_config"] == earlier["configs"][0]["run_config"]
    check(ok, "--reuse takes seed 0 from the earlier report and trains seed 1" + (": " + r.stderr[-300:] if not ok else ""))
    r = compare("-c", cfgs["gpt-t"], "--seeds", "2", "--steps", "3", "--out", h)
    check(r.returncode == 0 and r.stderr.count("done before") == 2, "the reused run is kept in the new runs directory")
    r = compare("-c", cfgs["gpt-t"], "--set", "train.lr=0.002", "--seeds", "1", "--steps", "3", "--reuse", moved,
                "--out", os.path.join(tmp, "i"))
    check(r.returncode == 0 and "another run config" in r.stderr and "training 3 steps" in r.stderr,
          "--reuse does not take a run of another run config")
    del earlier["configs"][0]["run_config"]
    with open(moved, "w") as fh:
        json.dump(earlier, fh)
    r = compare("-c", cfgs["gpt-t"], "--seeds", "1", "--steps", "3", "--reuse", moved, "--out", os.path.join(tmp, "j"))
    ok = r.returncode == 0 and "predates" in r.stderr and "training 3 steps" in r.stderr
    check(ok and report(os.path.join(tmp, "j"))["configs"][0]["runs"][0]["val_loss"] ==
          report(g)["configs"][0]["runs"][0]["val_loss"], "a report without run configs is retrained, to the same bits")
    with open(os.path.join(tmp, "not_a_report.json"), "w") as fh:
        json.dump({"runs": []}, fh)

    # 7. Bad input: a clear message and a non-zero exit.
    for args, want in (
        ((*both, "--out", os.path.join(tmp, "e")), "exactly one budget"),
        ((*both, "--steps", "3", "--tokens", "9", "--out", os.path.join(tmp, "e")), "exactly one budget"),
        (("-c", os.path.join(tmp, "missing.json"), "--steps", "3", "--out", os.path.join(tmp, "e")), "missing.json"),
        ((*both, "--steps", "3", "--seeds", "0", "--out", os.path.join(tmp, "e")), "--seeds"),
        ((*both, "--seeds", "2", "--steps", "3", "--out", a), "holds a run of another config"),
        (("-c", cfgs["gpt-t"] + ":n_layer=2", "--steps", "3", "--out", os.path.join(tmp, "e")), "not section.key=value"),
        (("-c", cfgs["gpt-t"] + ":model.n_layr=2", "--steps", "3", "--out", os.path.join(tmp, "e")), "n_layr"),
        (("-c", cfgs["gpt-t"], "--steps", "3", "--reuse", os.path.join(tmp, "gone.json"), "--out", os.path.join(tmp, "e")),
         "gone.json' does not exist"),
        (("-c", cfgs["gpt-t"], "--steps", "3", "--reuse", os.path.join(tmp, "not_a_report.json"), "--out",
          os.path.join(tmp, "e")), "not a loupe compare report"),
    ):
        r = compare(*args)
        check(r.returncode != 0 and want in r.stderr, f"refused ({want}): {r.stderr.strip()[-150:]}")
finally:
    shutil.rmtree(tmp, ignore_errors=True)

print(f"{len(failures)} failure(s)" if failures else "all passed")
sys.exit(1 if failures else 0)
