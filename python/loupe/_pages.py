"""The audit pages from Python: `loupe.explore` (one training step as a page, `loupe explore`)
and `loupe.audit.diff_page` (`loupe audit diff --html`). A Page shows itself inline in Jupyter
(an iframe holding the whole self-contained page) and saves to a file."""
import html
import json
import os

from . import _loupe
from ._pipeline import _config_args


class Page:
    """A self-contained HTML page (no network access) and the record it shows (`record`, a dict)."""

    def __init__(self, record, page, title):
        self.record, self.html, self._title = record, page, title

    def save(self, path):
        """Writes the page to `path` (open it in any browser) and returns the path."""
        tmp = os.fspath(path) + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(self.html)
        os.replace(tmp, path)  # whole or not at all
        return path

    def _repr_html_(self):
        return (f'<iframe title="{html.escape(self._title)}" srcdoc="{html.escape(self.html, quote=True)}" '
                'style="width:100%;height:860px;border:1px solid #ddd"></iframe>')

    def __repr__(self):
        return f"<loupe page: {self._title}, {len(self.html) / 1e6:.1f} MB>"


def explore(config=None, *, ckpt=None, step=0, set=(), shadow=False):
    """One training step of a run, every op recorded, as a Page (`loupe explore`): `config` is a
    run config (a path or a dict, with `set` overrides; the model starts from its initial weights,
    trained `step` steps first), or `ckpt` a run's checkpoint directory (its weights, optimizer
    state and the step it takes next). shadow=True also runs the step in float64 and gives every
    op its float32 error. `page.record` holds the numbers: run, modules, ops, params, attention."""
    if (config is None) == (ckpt is None):
        raise ValueError("explore: give a run config (path or dict) or ckpt=, one of them")
    cfg = _config_args(config, set) if config is not None else ("", "", list(set))
    record, page = _loupe._explore(*cfg, os.fspath(ckpt or ""), step, shadow)
    record = json.loads(record)
    run = record["run"]
    return Page(record, page, f"{run['type']}, step {run['step']}, loss {run['loss']:.4f}")


def diff_page(a, b, tol=None, modules=False):
    """`loupe audit diff --html`: the two traces side by side, aligned, as a Page whose `result` is
    what `loupe.audit.diff` returns."""
    result, page = _loupe._diff_report(os.fspath(a), os.fspath(b), -1.0 if tol is None else tol, modules)
    p = Page(None, page, f"audit diff of {os.fspath(a)} and {os.fspath(b)}")
    p.result = json.loads(result)
    return p
