"""The benchmarks share the test suite's synthetic-data helpers (tests/synthetic_*.py)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
