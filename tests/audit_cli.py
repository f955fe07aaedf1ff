#!/usr/bin/env python3
"""The audit commands through the loupe binary, as a user runs them.

For a tiny gpt and a tiny llama checkpoint (trained for 2 steps by `loupe train`):
  - `loupe audit trace` and tools/reference/torch_trace.py on the same ids, then
    `loupe audit diff --modules --tol 1e-5`: exit 0 (loupe and PyTorch agree module by module);
  - the same with one weight of the checkpoint changed: exit 1, naming that module;
  - unusable input (a truncated trace line, another model's trace, a missing file, ids outside
    the vocabulary): exit 2 with one line naming the file;
  - `loupe audit attention` writes an SVG that parses, one panel per layer and head;
  - `loupe summary --json`: the parameter count of the root is the sum over the top modules.
Without PyTorch (requirements-dev.txt) the rest runs and the test ends skipped, or failed under
LOUPE_REQUIRE_ALL=1 (./run test, CI).

Usage: audit_cli.py path/to/loupe source_root [workdir]
"""
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

LOUPE, ROOT = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
WORK = os.path.abspath(sys.argv[3]) if len(sys.argv) > 3 else tempfile.mkdtemp(prefix="loupe_audit_cli_")
os.makedirs(WORK, exist_ok=True)
TORCH_TRACE = os.path.join(ROOT, "tools/reference/torch_trace.py")
sys.path.insert(0, os.path.join(ROOT, "tools", "reference"))
from reference_env import missing, skip  # noqa: E402

no_torch = missing("torch", "numpy")
failures = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        failures.append(what)


def run(args, **kw):
    return subprocess.run(args, capture_output=True, text=True, cwd=WORK, **kw)


def save_ids_npy(path, rows):
    """A C-order little-endian int64 .npy (numpy's format, version 1.0), written without numpy."""
    header = "{'descr': '<i8', 'fortran_order': False, 'shape': (%d, %d), }" % (len(rows), len(rows[0]))
    header += " " * (63 - (10 + len(header)) % 64) + "\n"
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode("latin1"))
        for r in rows:
            f.write(struct.pack("<%dq" % len(r), *r))


def perturb_safetensors(src, dst, name, delta):
    """Copy a checkpoint's safetensors file with element 0 of one f32 tensor changed by delta."""
    data = bytearray(open(src, "rb").read())
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    entry = header["model." + name]  # the model's tensors (optim.* hold the optimizer state)
    assert entry["dtype"] == "F32", entry
    at = 8 + n + entry["data_offsets"][0]
    (v,) = struct.unpack("<f", data[at:at + 4])
    data[at:at + 4] = struct.pack("<f", v + delta)
    open(dst, "wb").write(bytes(data))


corpus = os.path.join(WORK, "corpus.txt")
with open(os.path.join(ROOT, "data/tinyshakespeare.txt")) as f:
    open(corpus, "w").write(f.read(20000))
ids = os.path.join(WORK, "ids.npy")
save_ids_npy(ids, [[(7 * i + 3 * b) % 30 + 1 for i in range(17)] for b in range(2)])

MODELS = {
    "gpt": (["model.type=gpt", "model.n_layer=2", "model.n_head=2", "model.n_embd=32", "model.block_size=16"],
            "transformer.h.1.mlp.c_fc.weight", "transformer.h.1.mlp.c_fc"),
    "llama": (["model.n_layer=2", "model.n_head=4", "model.n_kv_head=2", "model.n_embd=32", "model.block_size=16"],
              "layers.1.feed_forward.w1.weight", "layers.1.feed_forward.w1"),
}
traces = {}
for kind, (sets, weight, module) in MODELS.items():
    ck = os.path.join(WORK, kind)
    args = [LOUPE, "train", "-q", "-c", os.path.join(ROOT, f"configs/{kind}-baby.json"), "--out", ck,
            "--set", "data.corpus=" + corpus, "--set", "train.max_iters=2", "--set", "train.batch_size=2",
            "--set", "train.eval_iters=1"]
    for s in sets:
        args += ["--set", s]
    r = run(args)
    check(r.returncode == 0, f"{kind}: loupe train exits 0 ({r.stderr.strip()[-300:]})")
    if r.returncode:
        continue
    lt = os.path.join(WORK, kind + "_loupe.jsonl")
    r = run([LOUPE, "audit", "trace", "--ckpt", ck, "--tokens", ids, "-o", lt, "--dump", lt + ".npy"])
    check(r.returncode == 0 and os.path.getsize(lt) > 0, f"{kind}: loupe audit trace writes a trace ({r.stderr.strip()})")
    traces[kind] = lt
    records = [x for x in map(json.loads, open(lt)) if "op" in x]  # not the notes
    mods = {x["module"] for x in records if x["op"] == "module"}
    check(module in mods, f"{kind}: the trace has a module record of {module}")

    # A changed weight: loupe against loupe, bit by bit, names the module it feeds.
    bad = os.path.join(WORK, kind + "_bad")
    shutil.copytree(ck, bad)
    perturb_safetensors(os.path.join(ck, "ckpt.safetensors"), os.path.join(bad, "ckpt.safetensors"), weight, 0.05)
    bt = os.path.join(WORK, kind + "_bad.jsonl")
    r = run([LOUPE, "audit", "trace", "--ckpt", bad, "--tokens", ids, "-o", bt])
    check(r.returncode == 0, f"{kind}: trace of the perturbed checkpoint")
    r = run([LOUPE, "audit", "diff", "--modules", lt, lt])
    check(r.returncode == 0, f"{kind}: a trace against itself is identical (exit {r.returncode})")
    r = run([LOUPE, "audit", "diff", "--modules", lt, bt])
    check(r.returncode == 1 and f"first module that disagrees: '{module}'" in r.stdout,
          f"{kind}: perturbed {weight} is caught at {module} (exit {r.returncode}: {r.stdout.strip()[:200]})")

    if no_torch:
        continue
    tt = os.path.join(WORK, kind + "_torch.jsonl")
    r = run([sys.executable, TORCH_TRACE, "--ckpt", ck, "--tokens", ids, "-o", tt, "--dump", tt + ".npy"])
    check(r.returncode == 0, f"{kind}: torch_trace.py writes a trace ({r.stderr.strip()[-300:]})")
    r = run([LOUPE, "audit", "diff", "--modules", "--tol", "1e-5", lt, tt])
    check(r.returncode == 0, f"{kind}: loupe and PyTorch agree module by module within 1e-5 "
                             f"(exit {r.returncode}: {r.stdout.strip()[:300]})")
    report = os.path.join(WORK, kind + "_torch_report.html")
    r = run([LOUPE, "audit", "diff", "--modules", "--tol", "1e-5", bt, tt, "--html", report])
    check(r.returncode == 1 and f"first module that disagrees: '{module}'" in r.stdout,
          f"{kind}: the perturbed loupe model disagrees with PyTorch first at {module} "
          f"(exit {r.returncode}: {r.stdout.strip()[:300]})")
    # The same at module granularity as a page: a row per module, the first disagreeing one marked.
    page = open(report, encoding="utf-8").read() if os.path.exists(report) else ""
    rec = json.loads(page[page.index("const R = ") + 10:page.index(";\n", page.index("const R = "))]) if page else {}
    first = next((row for row in rec.get("rows", []) if row["s"] == "differs"), None)
    check(bool(rec) and rec["modules"] and first is not None and rec["A"][first["a"]]["module"] == module,
          f"{kind}: --html against PyTorch marks {module} first, module by module")
    r = run([LOUPE, "audit", "diff", "--modules", lt, tt])
    check(r.returncode == 2 and "--tol" in r.stderr, f"{kind}: PyTorch's hashless trace without --tol is refused")

# Unusable input: exit 2, one line, naming the file.
if "gpt" in traces:
    lt = traces["gpt"]
    lines = open(lt).read().splitlines()
    cut = os.path.join(WORK, "truncated.jsonl")
    open(cut, "w").write("\n".join(lines[:3] + [lines[3][: len(lines[3]) // 2]]) + "\n")
    for name, a, b, want in [("truncated line", lt, cut, "truncated.jsonl"),
                             ("missing file", lt, os.path.join(WORK, "nope.jsonl"), "nope.jsonl")]:
        r = run([LOUPE, "audit", "diff", a, b])
        check(r.returncode == 2 and want in r.stderr and r.stderr.strip().count("\n") == 0,
              f"diff with a {name}: exit 2 with one line naming {want} (exit {r.returncode}: {r.stderr.strip()})")
    if "llama" in traces:
        r = run([LOUPE, "audit", "diff", "--modules", lt, traces["llama"]])
        check(r.returncode == 2, f"diff of a gpt trace against a llama trace: exit 2 ({r.stderr.strip()})")
    far = os.path.join(WORK, "far.npy")
    save_ids_npy(far, [[1] * 16 + [100000]])
    r = run([LOUPE, "audit", "trace", "--ckpt", os.path.join(WORK, "gpt"), "--tokens", far, "-o",
             os.path.join(WORK, "far.jsonl")])
    check(r.returncode != 0 and "far.npy" in r.stderr and not os.path.exists(os.path.join(WORK, "far.jsonl")),
          f"ids outside the vocabulary: an error naming far.npy, no trace written ({r.stderr.strip()})")

    # Attention maps: an SVG with one panel per layer and head.
    svg = os.path.join(WORK, "attn.svg")
    r = run([LOUPE, "audit", "attention", "--ckpt", os.path.join(WORK, "gpt"), "--prompt", "To be, or not", "-o", svg])
    ok = r.returncode == 0 and os.path.exists(svg)
    if ok:
        try:
            text = open(svg).read()
            ET.fromstring(text)
            ok = all(text.count(f"transformer.h.{l}.attn · head {h}<") == 1 for l in (0, 1) for h in (0, 1))
        except ET.ParseError as e:
            ok = False
            print("svg parse error:", e)
    check(ok, f"loupe audit attention writes a parsable SVG with a panel per layer and head ({r.stderr.strip()})")

    # The summary: the root's parameters are the sum of its children's.
    r = run([LOUPE, "summary", "--ckpt", os.path.join(WORK, "gpt"), "--json"])
    ok = r.returncode == 0
    if ok:
        s = json.loads(r.stdout)
        root = s["modules"][0]
        top = [m for m in s["modules"] if m["depth"] == 1]
        ok = root["parameters"] == sum(m["parameters"] for m in top) and root["output"][:2] == [1, 16] \
            and s["flops_per_token"] > 0
    check(ok, "loupe summary --json: parameters add up, logits shape [1, 16, vocab]")

# Every config in configs/ (every model type): summary, and, after one training step, a traced pass
# that diffs identical against itself and attention maps that parse.
cfgs = sorted(f for f in os.listdir(os.path.join(ROOT, "configs")) if f.endswith(".json"))
for cfg in cfgs:
    name = cfg[:-5]
    path = os.path.join(ROOT, "configs", cfg)
    r = run([LOUPE, "summary", "-c", path, "--json", "--set", "data.corpus=" + corpus])
    ok = r.returncode == 0
    if ok:
        s = json.loads(r.stdout)
        ok = s["modules"][0]["parameters"] > 0 and len(s["modules"][0]["output"]) == 3 and s["flops_per_token"] > 0
    check(ok, f"{name}: loupe summary --json ({r.stderr.strip()[-200:]})")
    ck = os.path.join(WORK, "every", name)
    r = run([LOUPE, "train", "-q", "-c", path, "--out", ck, "--set", "data.corpus=" + corpus, "--set", "train.max_iters=1",
             "--set", "train.batch_size=2", "--set", "train.eval_iters=1", "--set", "train.grad_accum=1"])
    if r.returncode:
        check(False, f"{name}: loupe train 1 step ({r.stderr.strip()[-200:]})")
        continue
    t = os.path.join(WORK, "every", name + ".jsonl")
    r = run([LOUPE, "audit", "trace", "--ckpt", ck, "--tokens", ids, "-o", t])
    r2 = run([LOUPE, "audit", "diff", "--modules", t, t])
    check(r.returncode == 0 and r2.returncode == 0, f"{name}: audit trace, and diff --modules of it against itself")
    svg = os.path.join(WORK, "every", name + ".svg")
    r = run([LOUPE, "audit", "attention", "--ckpt", ck, "--prompt", "To be, or not", "-o", svg])
    ok = r.returncode == 0
    if ok:
        try:
            ok = ET.parse(svg).getroot().tag.endswith("svg") and " · head 0<" in open(svg).read()
        except ET.ParseError:
            ok = False
    check(ok, f"{name}: audit attention draws its maps ({r.stderr.strip()[-200:]})")

print(f"{len(failures)} failure(s)")
if failures:
    sys.exit(1)
if no_torch:
    skip("audit_cli.py: the loupe-vs-PyTorch half did not run (%s missing)" % ", ".join(no_torch))
