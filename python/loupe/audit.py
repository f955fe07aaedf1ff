"""loupe.audit: every number a block of Python computes, as records, dumps and pictures.

    with loupe.audit.trace() as t:          # every op, forward and backward, as dicts
        loss = model(ids).sum(); loss.backward()
    t.records[0]   # {"seq": 0, "pass": "forward", "op": "embedding", "module": "transformer.wte", ...}

    with loupe.audit.anomaly():             # the first op to make a NaN or Inf raises, naming it
        ...
    with loupe.audit.attention() as a:      # attention probabilities of every layer, as NumPy
        model(ids)
    a.maps["transformer.h.0.attn"]          # [B, H, T, T]

    loupe.audit.diff("a.jsonl", "b.jsonl")  # where two traces part (`loupe audit diff`)
    loupe.audit.diff_page("a.jsonl", "b.jsonl")  # the same, side by side as a page (shows in Jupyter)
    loupe.audit.shadow("configs/gpt-baby.json", steps=1)  # each op's f32 error against f64

Records are those of LOUPE_TRACE (autograd/trace.h explains every field; docs/audit.md the tools)."""
import json
import os
import tempfile

from . import _loupe


class trace:
    """Traces the ops run inside the block. `path`: keep the JSONL file there (else a temporary
    file, read back and removed); `dump_dir`: also write each selected op's tensors as .npy;
    `ops` / `modules`: only these op names / modules matching this glob. After the block,
    `records` holds the records (dicts), `path` the file when kept."""

    def __init__(self, path=None, dump_dir=None, ops=(), modules=""):
        self.path, self._keep = (os.fspath(path), True) if path is not None else (None, False)
        self._dump_dir = os.fspath(dump_dir) if dump_dir is not None else ""
        self._ops, self._modules = list(ops), modules
        self.records = []

    def __enter__(self):
        if not self._keep:
            fd, self.path = tempfile.mkstemp(prefix="loupe-trace-", suffix=".jsonl")
            os.close(fd)
        self._trace = _loupe._Trace(self.path, self._dump_dir, self._ops, self._modules)
        self._trace.__enter__()
        return self

    def __exit__(self, *exc):
        self._trace.__exit__(*exc)
        with open(self.path) as f:
            self.records = [r for r in map(json.loads, f) if "note" not in r]
        if not self._keep:
            os.remove(self.path)
            self.path = None
        return False


def anomaly(dump_dir="anomaly"):
    """Inside the block, the first op whose output holds a NaN or Inf raises loupe.Error naming
    the op, its module, step and pass (and whether an input was already bad); its inputs are
    dumped as .npy into dump_dir."""
    return _loupe._Anomaly(os.fspath(dump_dir))


class attention:
    """Collects every attention's probabilities while the block runs: `maps` is
    {module path: NumPy float64 [B, H, Tq, Tk]} (a module called twice keeps its last map) and
    `records` the list of (module, array) in call order."""

    def __enter__(self):
        self._probe = _loupe._AttentionProbe()
        self._probe.__enter__()
        return self

    def __exit__(self, *exc):
        self._probe.__exit__(*exc)
        self.records = [(module, probs.numpy()) for module, probs in self._probe._maps()]
        self.maps = dict(self.records)
        return False


def diff(a, b, tol=None, modules=False):
    """Where two traces part, as `loupe audit diff` reports it: a dict with "result" (identical,
    diverges, control_flow, length), the record index, the two records and a "summary" line.
    tol=None compares bits (hashes); modules=True compares module outputs paired by path."""
    return json.loads(_loupe._diff_traces(os.fspath(a), os.fspath(b), -1.0 if tol is None else tol, modules))


from ._pages import diff_page  # noqa: E402  (`loupe audit diff --html` as a Page)


def shadow(config=None, ckpt=None, steps=1, top=20):
    """Runs `steps` training steps of a run config (or from a run's checkpoint) in float32 beside a
    float64 twin and reports each op's relative error, worst first (`loupe audit shadow`)."""
    if (config is None) == (ckpt is None):
        raise ValueError("shadow: give a run config path or a checkpoint directory (one of them)")
    return json.loads(_loupe._shadow(os.fspath(config or ""), os.fspath(ckpt or ""), steps, top))
