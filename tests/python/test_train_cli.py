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


def test_sample_draws_only_ids_the_tokenizer_can_decode(work):
    """A model vocabulary padded past the tokenizer's (as GPT-2's 50,257 to 50,304): the padded ids'
    head rows are made to dominate every logit, and sampling still draws only decodable ids."""
    import numpy as np
    from safetensors import safe_open
    from safetensors.numpy import save_file

    assert train(work, "-c", "tiny.json", "--out", "pad", "--set", "model.vocab_size=64").returncode == 0
    path = work / "pad" / "ckpt.safetensors"
    with safe_open(str(path), framework="np") as f:
        meta, tensors = f.metadata(), {k: f.get_tensor(k) for k in f.keys()}
    vocab = json.loads(meta["tokenizer"])
    n_tok = len(set(CORPUS))
    heads = [k for k, t in tensors.items() if k.startswith("model.") and t.ndim == 2 and t.shape[0] == 64]
    assert heads, sorted(tensors)
    w = np.random.default_rng(0).standard_normal(tensors[heads[0]].shape[1]).astype(np.float32)
    for k in heads:
        t = tensors[k].copy()
        t[n_tok::2], t[n_tok + 1::2] = 1e3 * w, -1e3 * w  # one of each pair has a huge positive logit
        tensors[k] = t
    save_file(tensors, str(path), metadata=meta)
    r = subprocess.run([LOUPE, "sample", "--ckpt", "pad", "--tokens", "200", "--prompt", "All:"], capture_output=True,
                       text=True, cwd=work)
    assert r.returncode == 0, r.stderr
    assert len(r.stdout) > 150 and set(r.stdout) <= set(CORPUS) | {"\n"}, (vocab.get("type"), r.stdout[:200])


def test_eval_refuses_other_data_unless_allowed(work):
    assert train(work, "-c", "tiny.json", "--out", "run").returncode == 0
    ok = subprocess.run([LOUPE, "eval", "--ckpt", "run", "--whole", "--json"], capture_output=True, text=True, cwd=work)
    assert ok.returncode == 0, ok.stderr
    (work / "corpus.txt").write_text(CORPUS + "All:\nSpeak.\n")
    r = subprocess.run([LOUPE, "eval", "--ckpt", "run"], capture_output=True, text=True, cwd=work)
    assert r.returncode != 0 and "was trained on other data" in r.stderr and "corpus.txt" in r.stderr, r.stderr
    r = subprocess.run([LOUPE, "eval", "--ckpt", "run", "--whole", "--json", "--allow-other-data"], capture_output=True,
                       text=True, cwd=work)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["tokens"] > json.loads(ok.stdout)["tokens"]  # evaluated on the new text
