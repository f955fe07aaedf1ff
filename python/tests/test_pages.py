"""loupe.explore and loupe.audit.diff_page: the pages of `loupe explore` and `loupe audit diff
--html` from Python, with the same numbers as the command's, shown inline in Jupyter (an iframe
holding the whole page) and saved whole. (tests/python/test_pages.py opens them in a browser.)"""
import json
import os
import subprocess

import pytest

import loupe
from nanogpt import GPT, GPTConfig
from test_pipeline import LOUPE_BIN, run_config


def test_explore_is_the_commands_page(tmp_path):
    cfg = run_config(tmp_path, "gpt")
    page = loupe.explore(cfg, shadow=True)
    rec = page.record
    assert rec["run"]["type"] == "gpt" and rec["run"]["step"] == 0 and rec["run"]["shadow"]
    assert {o["pass"] for o in rec["ops"]} == {"forward", "backward", "optimizer"}
    (tmp_path / "cfg.json").write_text(json.dumps(cfg))
    r = subprocess.run([LOUPE_BIN, "explore", "-c", str(tmp_path / "cfg.json"), "--shadow", "-o", str(tmp_path / "cli.html"),
                        "--json", str(tmp_path / "cli.json")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    cli = json.load(open(tmp_path / "cli.json"))
    for key in ("ops", "params", "modules", "attention"):
        assert cli[key] == rec[key], key  # the same numbers, bit for bit (JSON keeps every digit)
    assert cli["run"]["loss"] == rec["run"]["loss"]
    shown = page._repr_html_()
    assert shown.startswith("<iframe") and 'srcdoc="&lt;!DOCTYPE html&gt;' in shown
    saved = page.save(tmp_path / "step.html")
    assert open(saved, encoding="utf-8").read() == page.html
    assert "gpt, step 0" in repr(page)


def test_explore_a_checkpoint_is_explore_at_that_step(tmp_path):
    cfg = run_config(tmp_path, "llama")
    loupe.train(cfg, tmp_path / "run", stop_after=2)
    from_ckpt = loupe.explore(ckpt=tmp_path / "run").record
    from_cfg = loupe.explore(cfg, step=2).record
    assert from_ckpt["run"]["step"] == from_cfg["run"]["step"] == 2
    assert from_ckpt["run"]["loss"] == from_cfg["run"]["loss"]
    assert from_ckpt["params"] == from_cfg["params"]


def test_explore_refuses_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="one of them"):
        loupe.explore()
    with pytest.raises(ValueError, match="one of them"):
        loupe.explore(run_config(tmp_path, "gpt"), ckpt=tmp_path)
    with pytest.raises(FileNotFoundError, match="nowhere"):
        loupe.explore(ckpt=tmp_path / "nowhere")


def test_diff_page_aligns_and_names_the_divergence(tmp_path):
    def run(path, ids):
        loupe.manual_seed(0)
        model = GPT(GPTConfig(vocab_size=13, block_size=8, n_layer=2, n_head=2, n_embd=16))
        with loupe.audit.trace(path):
            model(loupe.tensor(ids)).sum().backward()

    run(tmp_path / "a.jsonl", [[1, 2, 3, 4, 5]])
    run(tmp_path / "b.jsonl", [[1, 2, 3, 4, 6]])  # another last token
    page = loupe.audit.diff_page(tmp_path / "a.jsonl", tmp_path / "b.jsonl")
    assert page.result["result"] == "diverges" and page.result["a"]["op"] == "embedding"
    assert page.result == loupe.audit.diff(tmp_path / "a.jsonl", tmp_path / "b.jsonl")
    assert "const R = " in page.html and page._repr_html_().startswith("<iframe")
    assert os.path.getsize(page.save(tmp_path / "diff.html")) == len(page.html.encode("utf-8"))
