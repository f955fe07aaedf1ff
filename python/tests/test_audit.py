"""loupe.audit from Python: a block of code traced to records with module paths and hashes, two
runs diffed, a NaN found at the op that made it, attention maps as NumPy, the f64 shadow."""
import math
from pathlib import Path

import numpy as np
import pytest

import loupe
import loupe.nn as nn
from nanogpt import GPT, GPTConfig

ROOT = Path(__file__).resolve().parents[2]
CFG = GPTConfig(vocab_size=13, block_size=8, n_layer=2, n_head=2, n_embd=16)
IDS = loupe.tensor([[1, 2, 3, 4, 5]])


def step(model):
    loss = model(IDS).sum()
    loss.backward()
    return loss


def test_trace_records_ops_with_module_paths(tmp_path):
    loupe.manual_seed(0)
    model = GPT(CFG)
    with loupe.audit.trace(dump_dir=tmp_path / "dumps") as t:
        step(model)
    ops = [(r["pass"], r["op"], r["module"]) for r in t.records]
    assert ("forward", "embedding", "transformer.wte") in ops
    assert ("forward", "causal_attention", "transformer.h.1.attn") in ops
    assert ("backward", "layer_norm", "transformer.h.0.ln_1") in ops
    assert ("forward", "module", "transformer.h.0.mlp.c_fc") in ops  # each module's output
    assert all("hash" in o for r in t.records for o in r["outputs"] if o)
    assert any(p.suffix == ".npy" for p in (tmp_path / "dumps").iterdir())
    with loupe.audit.trace(ops=["matmul"]) as only:
        step(model)
    assert only.records and {r["op"] for r in only.records} == {"matmul"}


def test_two_runs_diff_identical_then_diverge(tmp_path):
    def run(path, lr):
        loupe.manual_seed(0)
        model = GPT(CFG)
        opt = loupe.optim.SGD(model.named_parameters(), lr=lr)
        with loupe.audit.trace(path):
            for _ in range(2):
                step(model)
                opt.step()
                opt.zero_grad()

    run(tmp_path / "a.jsonl", 0.1)
    run(tmp_path / "b.jsonl", 0.1)
    run(tmp_path / "c.jsonl", 0.2)
    same = loupe.audit.diff(tmp_path / "a.jsonl", tmp_path / "b.jsonl")
    assert same["result"] == "identical" and same["records"] > 100
    other = loupe.audit.diff(tmp_path / "a.jsonl", tmp_path / "c.jsonl")
    assert other["result"] == "diverges" and other["b"]["op"] == "embedding"  # the 2nd step's first op
    with pytest.raises(FileNotFoundError, match="nope.jsonl"):
        loupe.audit.diff(tmp_path / "a.jsonl", tmp_path / "nope.jsonl")


def test_anomaly_names_the_op_that_made_the_nan(tmp_path):
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(3, 3)

        def forward(self, x):
            return (self.fc(x) - 10.0).sqrt()  # sqrt of a negative: NaN made here

    with pytest.raises(loupe.Error, match=r"sqrt.*forward"):
        with loupe.audit.anomaly(tmp_path / "anomaly"):
            Net()(loupe.zeros(2, 3)).sum()
    assert any((tmp_path / "anomaly").iterdir())
    assert math.isnan(Net()(loupe.zeros(2, 3)).sum().item())  # outside the block: no checks


def test_attention_maps_are_numpy_rows_that_sum_to_one():
    loupe.manual_seed(0)
    model = GPT(CFG)
    with loupe.audit.attention() as a:
        model(IDS)
    assert list(a.maps) == ["transformer.h.0.attn", "transformer.h.1.attn"]
    p = a.maps["transformer.h.1.attn"]
    assert p.shape == (1, 2, 5, 5) and p.dtype == np.float64
    np.testing.assert_allclose(p.sum(-1), 1.0, rtol=1e-12)
    assert np.all(np.triu(p[0, 0], 1) == 0)  # causal: no weight on later tokens


def test_shadow_reports_f32_error_per_op():
    report = loupe.audit.shadow(ROOT / "configs/gpt-baby.json", steps=1, top=5)
    assert report["ops"] and report["ops"][0]["rel"] >= report["ops"][-1]["rel"]
    assert 0 < report["ops"][0]["rel"] < 1e-2
    with pytest.raises(FileNotFoundError):
        loupe.audit.shadow(ROOT / "configs/none.json")
