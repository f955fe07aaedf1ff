"""Imports for the reference scripts and Python tests, and what a missing one means.

They run in the project's Python environment .venv, which ./run makes and fills from
requirements-dev.txt (pinned: PyTorch 2.13 CPU, NumPy, tiktoken, safetensors, pytest). Built by
hand without it, a test whose package is missing is skipped (exit 77, meson's SKIP) with a note
saying how to get it; under ./run test and CI (LOUPE_REQUIRE_ALL=1) it fails instead, so a
missing package can never turn a red test green.
"""
import importlib
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
REQUIRE_ALL = os.environ.get("LOUPE_REQUIRE_ALL") == "1"


def skip(reason):
    """Exit 77 (skipped), or 1 under LOUPE_REQUIRE_ALL=1."""
    print(("FAIL (LOUPE_REQUIRE_ALL=1: nothing may be skipped) " if REQUIRE_ALL else "SKIP ") + reason,
          file=sys.stderr, flush=True)
    sys.exit(1 if REQUIRE_ALL else 77)


def missing(*modules):
    """The modules of these that cannot be imported."""
    out = []
    for m in modules:
        try:
            importlib.import_module(m)
        except ImportError:
            out.append(m)
    return out


def require(*modules):
    """The imported modules, or skip() naming what is missing and how to get it."""
    gone = missing(*modules)
    if gone:
        skip("%s: %s missing from %s. The project's environment has them: ./run test makes it as .venv; "
             "by hand: python3 -m venv .venv && .venv/bin/pip install -r %s"
             % (os.path.basename(sys.argv[0]), ", ".join(gone), sys.executable,
                os.path.join(ROOT, "requirements-dev.txt")))
    return [importlib.import_module(m) for m in modules]
