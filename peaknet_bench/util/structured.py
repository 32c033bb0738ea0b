"""Reading the package's JSON and YAML files with one kind of error: an InputError that names
the file, the line or field, and what was expected."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from peaknet_bench.errors import InputError


def read_json(path: str | os.PathLike, what: str = "file") -> dict[str, Any]:
    """A JSON object from `path` (`what` names the kind of file in errors)."""
    p = Path(path)
    try:
        data = json.loads(p.read_text())
    except OSError as exc:
        raise InputError(str(p), None, f"cannot read {what} ({exc.strerror})") from None
    except json.JSONDecodeError as exc:
        raise InputError(str(p), f"line {exc.lineno}", f"invalid JSON ({exc.msg})") from None
    if not isinstance(data, dict):
        raise InputError(str(p), None, "expected a JSON object")
    return data


def read_json_schema(path: str | os.PathLike, name: str, version: int, what: str = "results file") -> dict[str, Any]:
    """A JSON object whose `schema_name` is `name` and `schema_version` is `version`."""
    data = read_json(path, what)
    if data.get("schema_name") != name:
        raise InputError(str(path), "schema_name", f"not a {name} file")
    if data.get("schema_version") != version:
        raise InputError(str(path), "schema_version",
                         f"version {data.get('schema_version')!r} is not supported (expected {version})")
    return data


def read_yaml(path: str | os.PathLike, what: str = "file") -> Any:
    """The YAML (or JSON) document of `path`; an empty file reads as {}."""
    import yaml

    p = Path(path)
    try:
        return yaml.safe_load(p.read_text()) or {}
    except FileNotFoundError:
        raise InputError(str(p), None, f"{what} not found") from None
    except yaml.YAMLError as exc:
        raise InputError(str(p), None, f"not valid YAML: {exc}") from None


def read_mapping(path: str | os.PathLike, what: str = "file") -> dict[str, Any]:
    """The YAML (or JSON) mapping of `path` (a parameters file): anything else is refused."""
    data = read_yaml(path, what)
    if not isinstance(data, dict):
        raise InputError(str(path), None, f"{what}: expected a mapping of names to values, got {type(data).__name__}")
    return data


def dataclass_from_mapping(cls: type, values: dict[str, Any], what: str, source: str | None = None) -> Any:
    """`cls(**values)` for a parameters dataclass, with errors that name `source` and the field:
    unknown names are refused (dashes read as underscores: the tools' own spellings), and the
    class's own InputError (from its checks) or a TypeError gets `source` prefixed."""
    from dataclasses import fields

    known = {f.name for f in fields(cls)}
    kwargs = {str(k).replace("-", "_"): v for k, v in values.items()}
    unknown = sorted(set(kwargs) - known)
    if unknown:
        raise InputError(source, unknown[0], f"unknown {what} parameter; expected one of {sorted(known)}")
    try:
        return cls(**kwargs)
    except InputError as exc:
        raise InputError(source, exc.where, exc.message) from None
    except TypeError as exc:
        raise InputError(source, None, f"{what} parameters: {exc}") from None
