"""The leaderboard submission: an evaluation results file plus who, what and which predictions.

A submission embeds the complete `peaknet_bench.evaluate.results.Results` (every metric,
the per-frame outcomes, throughput with hardware, the indexer and its settings) and adds an
`entry` block: the method's display name, authors, code link, model configuration and
parameter count, the benchmark it claims (dataset name + version + split + checksum) and
the predicted peak lists (a CXI file) with their sha256. The predictions are required so
the board can recompute every metric itself instead of trusting the claimed numbers.

The JSON Schema is published as `leaderboard/submission.schema.json` (regenerate with
`python -m peaknet_bench.leaderboard.schema`; a test checks that it is current).

Version history: 1 – first release.
"""

from __future__ import annotations

import json
import os
from typing import Any, Literal

from pydantic import Field, ValidationError

from peaknet_bench.errors import InputError
from peaknet_bench.evaluate.results import Results, StrictModel
from peaknet_bench.util.shipped import shipped_path

SCHEMA_NAME = "peaknet-bench-submission"
SCHEMA_VERSION = 1
# The shipped board: benchmark registry, schema, rendered board (the repository's leaderboard/ in a
# checkout, $PEAKNET_BENCH_ROOT/leaderboard when that is set; see peaknet_bench.util.shipped).
BOARD_DIR = shipped_path("leaderboard")
SCHEMA_FILE = BOARD_DIR / "submission.schema.json"
SHA256 = r"^[0-9a-f]{64}$"


class ModelInfo(StrictModel):
    """What a reader needs to reproduce the method: its configuration and size."""

    config: dict[str, Any] = Field(default_factory=dict, description="model / finder configuration")
    n_parameters: int | None = Field(None, ge=0, description="trainable parameters (None for classic finders)")


class BenchmarkRef(StrictModel):
    """The benchmark the entry claims: a known dataset version, one split, its checksum."""

    name: str = Field(min_length=1)
    version: str = Field(min_length=1)
    split: str = Field(min_length=1)
    sha256: str = Field(pattern=SHA256, description="checksum of the benchmark's frame set (benchmarks.yaml)")


class PredictionsRef(StrictModel):
    """The predicted peak lists: a CXI file (CrystFEL's peak table), one row per test frame."""

    file: str = Field(min_length=1, description="file name, stored beside the entry")
    sha256: str = Field(pattern=SHA256)
    n_frames: int = Field(ge=0)


class EntryInfo(StrictModel):
    method_name: str = Field(min_length=1, max_length=80)
    authors: list[str] = Field(min_length=1)
    code_url: str = Field(pattern=r"^https?://\S+$", description="http(s) link to the code (and weights)")
    description: str = ""
    reference: bool = Field(False, description="a reference point (e.g. the truth oracle ceiling): shown, not ranked, "
                                               "not on the Pareto front")
    model: ModelInfo = Field(default_factory=ModelInfo)
    dataset: BenchmarkRef
    predictions: PredictionsRef
    submitted_utc: str


class Submission(StrictModel):
    schema_name: Literal["peaknet-bench-submission"] = SCHEMA_NAME
    schema_version: Literal[1] = SCHEMA_VERSION
    entry: EntryInfo
    results: Results

    @property
    def benchmark_key(self) -> str:
        d = self.entry.dataset
        return f"{d.name}/{d.version}/{d.split}"


def schema_json() -> str:
    """The JSON Schema of a submission (what `leaderboard/submission.schema.json` holds)."""
    schema = Submission.model_json_schema()
    schema["$id"] = f"https://peaknet-bench/schemas/{SCHEMA_NAME}-v{SCHEMA_VERSION}.json"
    schema["title"] = f"{SCHEMA_NAME} v{SCHEMA_VERSION}"
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def validation_problems(exc: ValidationError, prefix: str = "") -> list[str]:
    """Every pydantic error as one readable line: `field.path: message`."""
    out = []
    for err in exc.errors():
        where = ".".join(str(x) for x in err["loc"]) or "(top level)"
        out.append(f"{prefix}{where}: {err['msg']}")
    return out


def read_json(path: str | os.PathLike) -> dict[str, Any]:
    from peaknet_bench.util.structured import read_json as read

    return read(path)


def parse_submission(data: dict[str, Any], source: str | None = None) -> tuple[Submission | None, list[str]]:
    """(submission, []) or (None, every schema problem)."""
    if data.get("schema_name") != SCHEMA_NAME:
        return None, [f"schema_name: expected {SCHEMA_NAME!r}, got {data.get('schema_name')!r}"]
    if data.get("schema_version") != SCHEMA_VERSION:
        return None, [f"schema_version: {data.get('schema_version')!r} is not supported (expected {SCHEMA_VERSION})"]
    try:
        return Submission.model_validate(data), []
    except ValidationError as exc:
        return None, validation_problems(exc)


def load_submission(path: str | os.PathLike) -> Submission:
    """Read a submission; InputError lists every schema problem."""
    sub, problems = parse_submission(read_json(path))
    if sub is None:
        raise InputError(str(path), problems[0].split(":")[0], "; ".join(problems))
    return sub


def load_results_or_submission(path: str | os.PathLike) -> tuple[Results, Submission | None]:
    """A results file or a submission (whose embedded results are returned), for `regress`."""
    from peaknet_bench.evaluate.results import load_results

    data = read_json(path)
    if data.get("schema_name") == SCHEMA_NAME:
        sub = load_submission(path)
        return sub.results, sub
    return load_results(path), None


def write_schema(path: str | os.PathLike = SCHEMA_FILE) -> None:
    from peaknet_bench.util.atomic import write_text_atomic

    write_text_atomic(path, schema_json())


if __name__ == "__main__":
    write_schema()
    print(f"wrote {SCHEMA_FILE}")
