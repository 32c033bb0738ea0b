"""How every CLI command ends: a human summary on stdout, or one JSON object with --json."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def to_json(data: Mapping[str, Any], indent: int | None = None) -> str:
    """JSON text with numpy values converted and NaN/inf written as null (strict JSON)."""
    return json.dumps(_jsonable(data), indent=indent, allow_nan=False)


def emit(summary: Mapping[str, Any], human: str, as_json: bool) -> None:
    """Print the final summary: `human` text, or `summary` as one JSON object on stdout."""
    if as_json:
        sys.stdout.write(to_json(summary) + "\n")
    else:
        sys.stdout.write(human.rstrip("\n") + "\n")
    sys.stdout.flush()


def table(rows: Iterable[Iterable[Any]], header: Iterable[str]) -> str:
    """A plain aligned text table (readable in a terminal and in a log file)."""
    header = [str(h) for h in header]
    body = [[_fmt(c) for c in row] for row in rows]
    widths = [len(h) for h in header]
    for row in body:
        widths = [max(w, len(c)) for w, c in zip(widths, row)]
    line = "  ".join(h.ljust(w) for h, w in zip(header, widths))
    rule = "  ".join("-" * w for w in widths)
    out = [line, rule] + ["  ".join(c.ljust(w) for c, w in zip(row, widths)) for row in body]
    return "\n".join(out)


def _fmt(value: Any) -> str:
    if isinstance(value, (float, np.floating)):
        return f"{value:.4g}"
    return str(value)
