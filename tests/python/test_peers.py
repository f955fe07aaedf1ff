"""PyTorch and JAX train what loupe trains: the same run config, from the same initial weights
(`loupe train --stop-after 0`), on the same batches (`loupe batches`), with the same AdamW groups,
schedule, clipping and accumulation (tools/reference/torch_train.py --batches, jax_train.py).
Their per-step losses agree with loupe's to float rounding (measured over 6 steps: PyTorch within
3.4e-8 relative, JAX within 1.7e-7), so a speed comparison between them compares the same work
(issue 35: "all peers must agree on the loss curve").

Run by meson (tests/meson.build) as `python -m pytest` with LOUPE_BIN naming the binary.
"""
import json
import os
import subprocess
import sys

import pytest

LOUPE = os.environ["LOUPE_BIN"]
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
STEPS = 6
# Small and quick, and every part of the step in play: two micro-batches a step, clipping, a
# warm-up of one step then the cosine.
SETS = ["model.n_layer=2", "model.block_size=32", "train.batch_size=4", "train.grad_accum=2", "train.warmup_iters=1",
        f"train.max_iters={STEPS}", f"train.lr_decay_iters={STEPS}", "train.log_interval=1", "train.eval_interval=1000",
        "train.grad_clip=0.5"]


def loupe(*args, cwd):
    r = subprocess.run([LOUPE, *args], capture_output=True, text=True, cwd=cwd, env=dict(os.environ, OMP_NUM_THREADS="2"))
    assert r.returncode == 0, r.stderr
    return r


@pytest.mark.parametrize("config", ["gpt-baby", "llama-baby"])
def test_pytorch_and_jax_train_loupes_run_step_for_step(config, tmp_path):
    cfg = os.path.join("configs", config + ".json")
    sets = [a for s in SETS for a in ("--set", s)]
    loupe("train", "-q", "-c", cfg, *sets, "--out", str(tmp_path / "run"), cwd=ROOT)
    rows = [json.loads(l) for l in open(tmp_path / "run" / "metrics.jsonl")]
    ours = [r["loss"] for r in rows if "loss" in r]
    assert len(ours) == STEPS
    loupe("batches", "-c", cfg, *sets, "--steps", str(STEPS), "-o", str(tmp_path / "batches.npy"), cwd=ROOT)
    batches = str(tmp_path / "batches.npy")
    peers = {"PyTorch": ["torch_train.py", "--threads", "2", "--eval-iters", "0"], "JAX": ["jax_train.py"]}
    for peer, (script, *flags) in peers.items():
        r = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "reference", script), "--config", cfg, *sets,
                            "--loupe", LOUPE, "--batches", batches, "--steps", str(STEPS), "--json", *flags],
                           capture_output=True, text=True, cwd=ROOT)
        assert r.returncode == 0, r.stderr
        theirs = json.loads(r.stdout.strip().splitlines()[-1])
        assert theirs["batches"] == "loupe" and len(theirs["losses"]) == STEPS
        for step, (a, b) in enumerate(zip(ours, theirs["losses"])):
            assert abs(a - b) <= 1e-6 * abs(a), f"step {step}: loupe {a!r}, {peer} {b!r}"
    # The run really moved: later steps see other batches and updated weights.
    assert len(set(round(x, 4) for x in ours)) == STEPS


def test_the_peers_table_shows_equal_losses(tmp_path):
    """./run peers (tools/reference/peers.py), cut to two peers and two steps: every row's loss is loupe's."""
    r = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "reference", "peers.py"), "--loupe", LOUPE,
                        "--config", "configs/gpt-baby.json", "--set", "model.n_layer=1", "--steps", "2", "--repeats", "1",
                        "--peak-probes", "1", "--only", "loupe", "--only", "torch eager", "--work", str(tmp_path),
                        "--json", str(tmp_path / "peers.json")], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    rows = json.load(open(tmp_path / "peers.json"))["rows"]
    assert [x["peer"] for x in rows] == ["loupe", "torch eager"]
    assert abs(rows[0]["loss"] - rows[1]["loss"]) <= 1e-6 * rows[0]["loss"]
    assert all(x["tokens_per_sec"] > 0 and 0 < x["mfu_percent"] < 100 for x in rows)
    assert "| gpt-baby.json | torch eager |" in r.stdout


def test_a_fast_wrong_run_gets_no_ratio():
    """A peer whose last loss is NaN or not loupe's is marked wrong and gets no "loupe is" ratio
    (torch.compile under ATEN_CPU_CAPABILITY=avx2 gave NaN on gpt-shakespeare, 2026-12-07, from an
    inductor cache shared by both ISAs)."""
    sys.path.insert(0, os.path.join(ROOT, "tools", "reference"))
    import peers
    row = {"config": "configs/c.json", "min": 1.0, "max": 1.0, "ms_per_step": 1.0, "mfu_percent": 1.0,
           "peak_rss_mib": 1.0, "compile_seconds": 0.0}
    rows = [dict(row, peer="loupe", tokens_per_sec=100.0, loss=2.5),
            dict(row, peer="fast and wrong", tokens_per_sec=400.0, loss=float("nan")),
            dict(row, peer="off by 1e-3", tokens_per_sec=400.0, loss=2.5025),
            dict(row, peer="right", tokens_per_sec=50.0, loss=2.5000001)]
    meta = {"date": "d", "cpu": "c", "threads": 2, "peak": 1.0, "peak_readings": [1.0], "steps": 1, "repeats": 1,
            "command": "x"}
    lines = {l.split(" | ")[1]: l for l in peers.markdown(rows, meta).splitlines() if l.startswith("| c.json")}
    assert "wrong" in lines["fast and wrong"] and lines["fast and wrong"].endswith("| — |")
    assert "wrong" in lines["off by 1e-3"] and lines["off by 1e-3"].endswith("| — |")
    assert "wrong" not in lines["right"] and lines["right"].endswith("| 2.00× |")


def test_batches_refuses_a_bad_request(tmp_path):
    r = subprocess.run([LOUPE, "batches", "-c", "configs/gpt-baby.json", "--steps", "0", "-o", str(tmp_path / "b.npy")],
                       capture_output=True, text=True, cwd=ROOT)
    assert r.returncode != 0 and "--steps" in r.stderr
    assert not (tmp_path / "b.npy").exists()
