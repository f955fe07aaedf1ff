"""`loupe train` and the directory it writes to: a run is continued or replaced only when asked.

Run by meson (tests/meson.build) as `python -m pytest` with LOUPE_BIN naming the binary.
"""
import json
import os
import subprocess

import pytest

LOUPE = os.environ["LOUPE_BIN"]
CORPUS = "First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n" * 40


@pytest.fixture
def work(tmp_path):
    (tmp_path / "corpus.txt").write_text(CORPUS)
    cfg = {"model": {"type": "gpt", "n_layer": 1, "n_head": 2, "n_embd": 16, "block_size": 16},
           "data": {"corpus": str(tmp_path / "corpus.txt"), "tokenizer": "char"},
           "train": {"batch_size": 4, "max_iters": 2, "eval_interval": 2, "eval_iters": 1, "log_interval": 1}}
    (tmp_path / "tiny.json").write_text(json.dumps(cfg))
    return tmp_path


def train(work, *args):
    return subprocess.run([LOUPE, "train", "-q", *args], capture_output=True, text=True, cwd=work,
                          env=dict(os.environ, OMP_NUM_THREADS="1"))


def test_default_directory_gets_a_fresh_name(work):
    assert train(work, "-c", "tiny.json").returncode == 0
    r = train(work, "-c", "tiny.json")
    assert r.returncode == 0, r.stderr
    assert "'runs/tiny' holds a run" in r.stderr and "'runs/tiny-2'" in r.stderr
    r = train(work, "-c", "tiny.json")
    assert r.returncode == 0 and "'runs/tiny-3'" in r.stderr
    for d in ("tiny", "tiny-2", "tiny-3"):
        assert (work / "runs" / d / "ckpt.safetensors").exists(), d
    # --resume without --out continues runs/tiny itself.
    r = train(work, "-c", "tiny.json", "--resume", "--set", "train.max_iters=3")
    assert r.returncode == 0 and "holds a run" not in r.stderr, r.stderr
    assert not (work / "runs" / "tiny-4").exists()


def test_an_out_directory_holding_a_run_is_refused_and_kept(work):
    assert train(work, "-c", "tiny.json", "--out", "mine").returncode == 0
    before = {f: (work / "mine" / f).read_bytes() for f in ("ckpt.safetensors", "metrics.jsonl", "config.json")}
    r = train(work, "-c", "tiny.json", "--out", "mine", "--set", "train.lr=0.5")
    assert r.returncode != 0
    assert "'mine' already holds a run (ckpt.safetensors, metrics.jsonl, config.json)" in r.stderr, r.stderr
    assert "--resume" in r.stderr and "--force" in r.stderr
    assert {f: (work / "mine" / f).read_bytes() for f in before} == before, "the refused run changed the old one"
    r = train(work, "-c", "tiny.json", "--out", "mine", "--resume", "--force")
    assert r.returncode != 0 and "give one" in r.stderr


def test_force_replaces_the_run(work):
    assert train(work, "-c", "tiny.json", "--out", "mine", "--set", "train.max_iters=3").returncode == 0
    r = train(work, "-c", "tiny.json", "--out", "mine", "--force")
    assert r.returncode == 0, r.stderr
    steps = [json.loads(l)["step"] for l in (work / "mine" / "metrics.jsonl").read_text().splitlines()]
    assert max(steps) == 2, steps  # only the new run's rows
