"""python/examples/ (nanogpt.py) is importable by the tests, as it is by the notebooks."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
