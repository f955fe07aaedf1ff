"""The framework's own powers from Python: every registered model built, run, sampled and trained
by the CLI's trainer; a run from Python is bitwise the command line's (every model type), 1 thread
equals 2, checkpoints and safetensors files round-trip (and load in Hugging Face's safetensors)."""
import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.numpy import load_file as hf_load
from safetensors.torch import save_file as hf_save

import loupe

ROOT = Path(__file__).resolve().parents[2]
LOUPE_BIN = os.environ.get("LOUPE_BIN", str(ROOT / "build/release/tools/loupe"))
TYPES = sorted(loupe.models.types())
CORPUS = "First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n" * 40


def tiny_model(type_):
    c = {"type": type_, "block_size": 16, "n_layer": 2, "n_head": 2, "n_embd": 16}
    if type_ == "llama":
        c["n_kv_head"] = 1
    if type_ == "shishu":  # its parent's attention layers, then MLP-only layers
        c.update(attn_layers=1, mlp_layers=1)
    return c


def run_config(tmp_path, type_):
    (tmp_path / "corpus.txt").write_text(CORPUS)
    return {"model": tiny_model(type_),
            "data": {"corpus": str(tmp_path / "corpus.txt"), "tokenizer": "char"},
            "train": {"batch_size": 4, "max_iters": 3, "eval_interval": 3, "eval_iters": 1, "log_interval": 1,
                      "warmup_iters": 1, "lr_decay_iters": 3}}


def test_every_registered_type_is_listed():
    assert {"gpt", "llama", "silia", "wiola", "elita", "shishu"} <= set(TYPES)
    assert all(isinstance(s, str) and s for s in loupe.models.types().values())


@pytest.mark.parametrize("type_", TYPES)
def test_build_run_and_sample_every_type(type_):
    model = loupe.models.build(dict(tiny_model(type_), vocab_size=13))
    assert model.config["type"] == type_ and model.vocab_size == 13 and model.block_size == 16
    logits = model(loupe.tensor([[1, 2, 3, 4]]))
    assert logits.shape == (1, 4, 13) and logits.requires_grad
    names = [n for n, _ in model.named_parameters()]
    assert names and list(model.state_dict()) == sorted(names)
    model.eval()
    ids = model.generate([1, 2, 3], max_new_tokens=5, temperature=0.8, top_k=5, seed=3)
    assert len(ids) == 5 and all(0 <= i < 13 for i in ids)
    assert ids == model.generate([1, 2, 3], max_new_tokens=5, temperature=0.8, top_k=5, seed=3)


def test_model_parameters_are_the_models_own():
    model = loupe.models.build(dict(tiny_model("gpt"), vocab_size=13))
    ids = loupe.tensor([[1, 2, 3]])
    before = model(ids).detach().numpy().copy()
    opt = loupe.optim.SGD(model.named_parameters(), lr=0.5)
    loss = loupe.nn.functional.cross_entropy(model(ids).view(-1, 13), loupe.tensor([2, 3, 4]))
    loss.backward()
    opt.step()
    assert not np.array_equal(before, model(ids).detach().numpy())
    sd = model.state_dict()
    name = next(iter(sd))
    with loupe.no_grad():
        sd[name].zero_()
    assert dict(model.named_parameters())[name].abs().sum().item() == 0.0


def test_bad_configs_raise_python_errors(tmp_path):
    with pytest.raises(ValueError, match="n_head"):
        loupe.models.build({"type": "gpt", "vocab_size": 5, "n_embd": 10, "n_head": 3})
    with pytest.raises(ValueError, match="known"):
        loupe.models.build({"type": "transformer-xl"})
    with pytest.raises(FileNotFoundError, match="nope.json"):
        loupe.models.build(tmp_path / "nope.json")
    with pytest.raises(FileNotFoundError):
        loupe.load_checkpoint(tmp_path / "no-run")
    with pytest.raises(ValueError, match="train.lr"):
        loupe.train(dict(run_config(tmp_path, "gpt"), train={"lr": -1}))
    missing = dict(run_config(tmp_path, "gpt"), data={"corpus": str(tmp_path / "gone.txt"), "tokenizer": "char"})
    with pytest.raises(FileNotFoundError, match="gone.txt") as e:  # from the C++ core: loupe.FileError
        loupe.train(missing)
    assert isinstance(e.value, loupe.Error)


def _checkpoint_tensors(run_dir):
    return hf_load(str(Path(run_dir) / "ckpt.safetensors"))


@pytest.mark.parametrize("type_", TYPES)
def test_python_run_is_bitwise_the_command_lines(tmp_path, type_):
    if not os.path.exists(LOUPE_BIN):
        if os.environ.get("LOUPE_REQUIRE_ALL") == "1":
            pytest.fail(f"the loupe binary {LOUPE_BIN} is missing")
        pytest.skip("no loupe binary (build/release/tools/loupe)")
    cfg = run_config(tmp_path, type_)
    (tmp_path / "run.json").write_text(json.dumps(cfg))
    subprocess.run([LOUPE_BIN, "train", "-q", "--config", str(tmp_path / "run.json"), "--out", str(tmp_path / "cli")],
                   check=True, capture_output=True, env=dict(os.environ, OMP_NUM_THREADS="2"))
    rows = []
    loupe.set_num_threads(2)
    result = loupe.train(cfg, tmp_path / "py", callback=rows.append)
    assert result["steps_done"] == 3 and [r["step"] for r in rows if "loss" in r] == [0, 1, 2]
    cli, py = _checkpoint_tensors(tmp_path / "cli"), _checkpoint_tensors(tmp_path / "py")
    assert cli.keys() == py.keys()
    for k in cli:
        assert np.array_equal(cli[k], py[k]), k
    cli_rows = [json.loads(line) for line in (tmp_path / "cli" / "metrics.jsonl").read_text().splitlines()]
    assert [r.get("loss") for r in cli_rows] == [r.get("loss") for r in rows]


def test_one_thread_equals_two(tmp_path):
    cfg = run_config(tmp_path, "llama")
    out = {}
    for n in (1, 2):
        loupe.set_num_threads(n)
        loupe.train(cfg, tmp_path / f"t{n}", set=["train.batch_size=8"])
        out[n] = _checkpoint_tensors(tmp_path / f"t{n}")
    loupe.set_num_threads(2)
    assert all(np.array_equal(out[1][k], out[2][k]) for k in out[1])


def test_callback_errors_stop_the_run(tmp_path):
    def stop(row):
        if row["step"] == 1:
            raise KeyError("stop here")

    with pytest.raises(KeyError, match="stop here"):
        loupe.train(run_config(tmp_path, "gpt"), callback=stop)


def test_checkpoint_loads_model_tokenizer_and_state(tmp_path):
    loupe.train(run_config(tmp_path, "gpt"), tmp_path / "run")
    ck = loupe.load_checkpoint(tmp_path / "run")
    assert ck.step == 3 and ck.config["model"]["type"] == "gpt" and ck.tokenizer.type == "char"
    text = "Speak, speak."
    assert ck.tokenizer.decode(ck.tokenizer.encode(text)) == text
    weights = _checkpoint_tensors(tmp_path / "run")
    for name, p in ck.model.named_parameters():
        assert np.array_equal(p.detach().numpy(), weights["model." + name] if "model." + name in weights
                              else weights[name]), name
    assert any(k.endswith("exp_avg") for k in ck.optimizer_state)


def test_safetensors_round_trip_with_hugging_face(tmp_path):
    tensors = {"w": loupe.randn(3, 4, seed=1), "ids": loupe.arange(5), "d": loupe.randn(2, seed=2, dtype=loupe.float64)}
    loupe.save_file(tensors, tmp_path / "a.safetensors", metadata={"format": "pt"})
    theirs = hf_load(str(tmp_path / "a.safetensors"))
    for k, v in tensors.items():
        assert np.array_equal(theirs[k], v.numpy())
    hf_save({"x": torch.arange(6.0).reshape(2, 3), "i": torch.tensor([7, 8])}, str(tmp_path / "b.safetensors"))
    ours = loupe.load_file(tmp_path / "b.safetensors")
    assert ours["x"].tolist() == [[0, 1, 2], [3, 4, 5]] and ours["i"].dtype == loupe.int64


def python_training_loop(cfg, model, data, steps):
    """loupe train's step (tools/train/step.cpp) written in Python: the trainer's batch, schedule,
    loss, backward, global-norm clip folded into AdamW's fused pass, decay on matrices only."""
    t = cfg["train"]
    named = model.named_parameters()
    decay = set(model.decay_parameter_names())
    opt = loupe.optim.AdamW([{"params": [(n, p) for n, p in named if n in decay], "weight_decay": 0.1},
                             {"params": [(n, p) for n, p in named if n not in decay], "weight_decay": 0.0}],
                            lr=1e-3, betas=(0.9, 0.99), eps=1e-8)
    params = [p for _, p in named]
    for it in range(steps):
        loupe.set_step(t.get("seed", 1337), it)
        for g in opt.param_groups:
            g["lr"] = data.lr(it)
        model.train()
        loupe.set_micro_batch(0)
        x, y = data.training_batch(it, 0, model.block_size)
        logits = model(x)
        loupe.nn.functional.cross_entropy(logits.view(-1, model.vocab_size), y.view(-1)).backward()
        _, coef = loupe.nn.utils.clip_coefficient(params, 1.0)
        opt.step(grad_scale=coef)
        opt.zero_grad()


@pytest.mark.parametrize("type_", ["gpt", "llama"])
def test_a_loop_written_in_python_is_bitwise_the_trainer(tmp_path, type_):
    cfg = run_config(tmp_path, type_)
    cfg["model"]["dropout"] = 0.1  # dropout masks keyed by step, micro-batch and module path
    data = loupe.open_data(cfg)
    assert data.tokenizer.type == "char" and data.split_size("train") > data.split_size("val") > 0
    model = loupe.models.build(cfg["model"], vocab_size=data.tokenizer.vocab_size)
    python_training_loop(cfg, model, data, 3)
    loupe.train(cfg, tmp_path / "cli")
    weights = _checkpoint_tensors(tmp_path / "cli")
    for name, p in model.named_parameters():
        assert np.array_equal(p.detach().numpy(), weights["model." + name]), name
    ck = loupe.load_checkpoint(tmp_path / "cli")
    assert data.estimate_loss(ck.model) == data.estimate_loss(model)
    assert 0 < data.split_loss(model) < 10
