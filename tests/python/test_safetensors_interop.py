"""loupe's checkpoints and Hugging Face's safetensors package, both ways, for every model type.

For each registered model type (its tiny fingerprint config; f32 and f64), `loupe train` writes a
checkpoint after 3 steps and stops at 2 (--stop-after), so the file holds the model, AdamW's
state, the config and the tokenizer. Then:
  - safetensors reads it: every tensor with the name, dtype, shape and bytes the file's header
    gives, and the metadata (config, step, ...) as loupe wrote it;
  - safetensors writes it again (its own tensor order, alignment and header layout), and loupe
    reads that file as its own: `loupe eval` prints the same loss, and `--resume` continues to a
    checkpoint bitwise equal to the one resumed from loupe's own file.

Run by meson (tests/meson.build) as `python -m pytest` with LOUPE_BIN naming the binary.
"""
import json
import os
import shutil
import struct
import subprocess

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.numpy import save_file

LOUPE = os.environ["LOUPE_BIN"]
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NUMPY = {"F32": np.float32, "F64": np.float64, "I64": np.int64}


def loupe(*args, **kw):
    r = subprocess.run([LOUPE, *args], capture_output=True, text=True, cwd=ROOT,
                       env=dict(os.environ, OMP_NUM_THREADS="1"), **kw)
    assert r.returncode == 0, f"loupe {' '.join(args)}: exit {r.returncode}\n{r.stderr[-2000:]}"
    return r.stdout


def registry_configs(tmp_root):
    """{(model type, dtype): tiny config path}, from `loupe fingerprint --configs-only`."""
    out = {}
    for dtype in ("f32", "f64"):
        listed = loupe("fingerprint", "--configs-only", "--dtype", dtype, "--dir", os.path.join(tmp_root, dtype)).split()
        for path in listed:
            out[(os.path.basename(os.path.dirname(path)).rsplit("-", 1)[0], dtype)] = path
    return out


CONFIG_DIR = os.path.join(os.environ.get("TMPDIR", "/tmp"), "loupe_st_interop_%d" % os.getpid())
CONFIGS = registry_configs(CONFIG_DIR)


def raw_header(path):
    """The file's own header, read by hand: {name: entry}, metadata, the offset of the data."""
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
    return header, header.pop("__metadata__", {}), 8 + n


def train(cfg, out, *extra):
    loupe("train", "-c", cfg, "--out", out, "--quiet", "--set", "train.max_iters=3", "--set", "train.eval_interval=1",
          "--set", "train.eval_iters=2", *extra)


def test_the_registry_is_covered():
    types = {t for t, _ in CONFIGS}
    assert {"gpt", "llama", "silia", "wiola", "elita", "shishu"} <= types, types


@pytest.mark.parametrize("key", sorted(CONFIGS), ids=lambda k: "%s-%s" % k)
def test_safetensors_reads_and_writes_loupe_checkpoints(key, tmp_path):
    cfg = CONFIGS[key]
    run = str(tmp_path / "run")
    train(cfg, run, "--stop-after", "2")
    ckpt = os.path.join(run, "ckpt.safetensors")
    header, meta, data_at = raw_header(ckpt)
    raw = open(ckpt, "rb").read()

    # safetensors reads every tensor and the metadata as the header states them.
    with safe_open(ckpt, framework="np") as f:
        assert sorted(f.keys()) == sorted(header)
        assert f.metadata() == meta
        assert "config" in meta and json.loads(meta["config"])["model"]["type"] == key[0]
        tensors = {}
        for name, e in header.items():
            t = f.get_tensor(name)
            assert t.dtype == NUMPY[e["dtype"]] and list(t.shape) == e["shape"], name
            b, end = e["data_offsets"]
            assert t.tobytes() == raw[data_at + b:data_at + end], name
            tensors[name] = t
    assert any(n.startswith("model.") for n in tensors) and any(n.startswith("optim.") for n in tensors)
    with safe_open(ckpt, framework="pt") as f:  # and as PyTorch tensors
        w = next(n for n in header if n.startswith("model."))
        assert torch.equal(f.get_tensor(w), torch.from_numpy(tensors[w]))

    # safetensors writes the same tensors and metadata; loupe reads that file as its own.
    again = str(tmp_path / "again")
    shutil.copytree(run, again)
    save_file(tensors, os.path.join(again, "ckpt.safetensors"), metadata=meta)
    assert open(os.path.join(again, "ckpt.safetensors"), "rb").read() != raw, \
        "safetensors wrote loupe's very bytes: reading them back would prove nothing"
    assert loupe("eval", "--ckpt", again, "--json") == loupe("eval", "--ckpt", run, "--json")
    train(cfg, run, "--resume")
    train(cfg, again, "--resume")
    a, _, _ = raw_header(os.path.join(run, "ckpt.safetensors"))
    with safe_open(os.path.join(run, "ckpt.safetensors"), framework="np") as fa, \
            safe_open(os.path.join(again, "ckpt.safetensors"), framework="np") as fb:
        assert sorted(fa.keys()) == sorted(fb.keys()) == sorted(a)
        differ = [n for n in fa.keys() if fa.get_tensor(n).tobytes() != fb.get_tensor(n).tobytes()]
        assert not differ, "resumed from safetensors' file, these differ: %s" % differ[:5]
        assert fa.metadata()["step"] == fb.metadata()["step"] == "3"
