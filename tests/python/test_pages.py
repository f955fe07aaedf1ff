"""The audit pages in a real browser (headless Chromium through Playwright,
tools/audit/page/browser.py): `loupe explore` for every registered model type and a
`loupe audit diff --html` report open from disk with no console error, show as many modules, ops
and rows as their records hold, filter the ops of a clicked module, show a clicked op's numbers
and gradient, play through the ops, draw every attention head, and go to the first divergence
with the chain of ops behind it. Screenshots of each page are taken (and must be pictures).

Run by meson (tests/meson.build) as `python -m pytest` with LOUPE_BIN naming the binary. Without
Playwright or Chromium it skips, and fails under LOUPE_REQUIRE_ALL=1 (./run test, CI).
"""
import json
import os
import subprocess
import sys

import pytest

LOUPE = os.environ["LOUPE_BIN"]
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tools", "audit", "page"))
import browser as pages  # noqa: E402


def loupe(*args, cwd=ROOT):
    r = subprocess.run([LOUPE, *args], capture_output=True, text=True, cwd=cwd, env=dict(os.environ, OMP_NUM_THREADS="2"))
    assert r.returncode in (0, 1), r.stderr  # audit diff exits 1 when the traces part
    return r


def model_types():
    return sorted(m["type"] for m in json.loads(loupe("models", "--json").stdout) if m["type"] not in ("data", "train"))


@pytest.fixture(scope="module")
def chrome():
    try:
        import playwright  # noqa: F401
        missing = None if pages.chromium() else "Chromium (Debian's chromium-headless-shell)"
    except ImportError:
        missing = "Playwright (requirements-dev.txt)"
    if missing:
        if os.environ.get("LOUPE_REQUIRE_ALL") == "1":
            pytest.fail(f"{missing} is missing and LOUPE_REQUIRE_ALL=1")
        pytest.skip(f"{missing} is missing")
    with pages.browser() as b:
        yield b


@pytest.fixture(scope="module")
def configs(tmp_path_factory):
    """The tiny run config of every registered type (`loupe fingerprint --configs-only`)."""
    d = tmp_path_factory.mktemp("configs")
    loupe("fingerprint", "--configs-only", "--dtype", "f32", "--dir", str(d))
    return {t: str(d / f"{t}-f32" / "config.json") for t in model_types()}


@pytest.mark.parametrize("model_type", model_types())
def test_explore_page(model_type, configs, chrome, tmp_path):
    html, rec_path = tmp_path / "step.html", tmp_path / "record.json"
    loupe("explore", "-c", configs[model_type], "--shadow", "-o", str(html), "--json", str(rec_path))
    rec = json.load(open(rec_path))
    page = pages.open_page(chrome, html)
    assert page.locator("#tree li.module").count() == len(rec["modules"])
    assert page.locator("#oplist .op").count() == len(rec["ops"])
    heads = sum(m["heads"] for m in rec["attention"]["maps"])
    assert heads > 0 and page.locator("canvas.attn-map").count() == heads
    assert page.locator("#params tr").count() == len(rec["params"]) + 1  # and the header row

    # A module: only its ops (and its descendants') stay in the list.
    first = next(o for o in rec["ops"] if o["pass"] == "forward" and o["module"])
    path = first["module"]
    inside = [i for i, o in enumerate(rec["ops"]) if o["module"] == path or o["module"].startswith(path + ".")]
    page.locator(f'#tree li.module[data-path="{path}"] > .name').click()
    assert page.locator("#oplist .op:visible").count() == len(inside)
    # An op: its equation, its numbers and the gradient that came back through it.
    i = next(i for i in inside if rec["ops"][i]["pass"] == "forward" and "backward" in rec["ops"][i])
    page.locator(f'#oplist .op[data-i="{i}"]').click()
    detail = page.locator("#detail").inner_text()
    assert f"#{i} forward {rec['ops'][i]['op']}" in detail
    assert "The gradient flowing back" in detail and "f32 error against f64" in detail
    assert page.locator("#detail canvas").count() >= 2
    # Play steps on to the next op of the module.
    page.locator("#play").click()
    page.wait_for_function(f"document.querySelector('#oplist .op.sel').dataset.i != '{i}'", timeout=5000)
    page.locator("#play").click()
    page.screenshot(path=str(tmp_path / "step.png"))
    assert open(tmp_path / "step.png", "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    assert page.loupe_errors == []


def test_diff_report(configs, chrome, tmp_path):
    """A changed kernel (--reference: every fused op by its textbook twin) against the fast run."""
    traces = {}
    for name, flags in (("fast", []), ("textbook", ["--reference"])):
        traces[name] = tmp_path / f"{name}.jsonl"
        r = subprocess.run([LOUPE, "train", "-q", "-c", configs["gpt"], "-o", str(tmp_path / name), "--set",
                            "train.max_iters=1", *flags], capture_output=True, text=True,
                           env=dict(os.environ, LOUPE_TRACE=str(traces[name])))
        assert r.returncode == 0, r.stderr
    html = tmp_path / "diff.html"
    r = loupe("audit", "diff", str(traces["fast"]), str(traces["textbook"]), "--html", str(html), "--json")
    assert r.returncode == 1
    result = json.loads(r.stdout)
    assert result["result"] == "diverges" and result["a"]["op"] == "layer_norm"
    page = pages.open_page(chrome, html)
    rows = sum(1 for _ in open(traces["fast"])) - 1  # less the model note
    assert page.locator("#rows tr[data-row]").count() == rows
    sel = page.locator("#rows tr.sel")  # the page opens at the first divergence
    assert sel.count() == 1 and "first" in sel.get_attribute("class") and "layer_norm" in sel.inner_text()
    detail = page.locator("#detail").inner_text()
    assert "made its inputs" in detail and "hash" in detail
    page.locator("#onlydiff").check()
    assert page.locator("#rows tr[data-row]:visible").count() < rows
    page.screenshot(path=str(tmp_path / "diff.png"))
    assert page.loupe_errors == []
