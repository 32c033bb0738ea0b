"""The results file: one evaluation of one method on one set of frames (versioned JSON).

The schema is a pydantic model; its JSON Schema is published beside this module as
`results.schema.json` (regenerate with `python -m peaknet_bench.evaluate.results`; a test
checks that the file is up to date). Per-frame outcomes are stored so that rates, cell
statistics and bootstrap intervals can be recomputed later (leaderboard, regression tests)
without re-running anything. Everything except `created_utc`, `throughput` and
`environment` is a deterministic function of the inputs.

Version history: 1 – first release.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from peaknet_bench.errors import InputError

SCHEMA_NAME = "peaknet-bench-results"
SCHEMA_VERSION = 1
SCHEMA_FILE = Path(__file__).with_name("results.schema.json")
# Fields that legitimately differ between two runs of the same evaluation.
VOLATILE_FIELDS = ("created_utc", "throughput", "environment")


class StrictModel(BaseModel):
    """A JSON record whose files may hold no field the schema does not name (results, submissions)."""

    model_config = ConfigDict(extra="forbid")


class MethodIdentity(StrictModel):
    name: str
    kind: Literal["pf8", "dispersion", "peaks-cxi", "model", "oracle"]
    params: dict[str, Any]
    params_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class DatasetIdentity(StrictModel):
    """Simulated frames (experiment + seed + range), a file (path + sha256) or a dataset split
    (name + version + split, sha256 of its manifest)."""

    kind: Literal["simulated", "cxi", "dataset"]
    name: str
    n_frames: int = Field(ge=0)
    start: int = Field(0, ge=0)
    experiment: str | None = None
    experiment_sha256: str | None = None
    seed: int | None = None
    path: str | None = None
    sha256: str | None = None
    geometry: str | None = None
    truth: str | None = None
    version: str | None = None
    split: str | None = None
    detector: str | None = None


class IndexerIdentity(StrictModel):
    name: str
    settings: dict[str, Any]
    target_cell: list[float] = Field(min_length=6, max_length=6)
    lattice: str


class RateCI(StrictModel):
    estimate: float
    low: float
    high: float
    level: float


class CellStat(StrictModel):
    mean: float | None
    sd: float
    n: int


class Metrics(StrictModel):
    n_frames: int
    n_hits: int
    n_indexed: int
    hit_rate: float
    indexing_rate: float
    indexing_yield: float
    ci: dict[str, RateCI]
    cell: dict[str, CellStat]
    truth: dict[str, float | int] | None = None
    segmentation: dict[str, float | int] | None = None
    # Present only when frames held NaN/±Inf pixels the mask called good (treated as bad):
    # nonfinite_pixels, frames_with_nonfinite.
    data_quality: dict[str, int] | None = None


class Hardware(StrictModel):
    cpu: str
    n_cpus: int
    gpu: str | None
    device: str


class Throughput(StrictModel):
    """Peak finding timed on its own (per frame, inside the worker) and indexing separately."""

    n_frames: int
    find_seconds: float
    frames_per_second: float | None  # per worker: frames / Σ per-frame find time
    ms_per_frame: float | None
    find_wall_seconds: float
    index_seconds: float
    index_ms_per_hit: float | None
    source_seconds: float  # reading / simulating frames (not the method's cost)
    workers: int
    threads: int
    batch_size: int
    hardware: Hardware


class FrameResult(StrictModel):
    """One frame's outcome (peaknet_bench.evaluate.metrics.FrameOutcome)."""

    event: str
    index: int | None = None
    n_peaks: int
    hit: bool
    indexed: bool
    cells: list[list[float]]
    blank: bool | None = None
    n_foundable: int | None = None
    n_matched: int | None = None
    correct_orientation: bool | None = None
    misorientation_deg: float | None = None


class Environment(StrictModel):
    package_version: str
    python: str
    platform: str
    numpy: str
    torch: str | None
    ray: str | None
    crystfel: str | None


class Results(StrictModel):
    schema_name: Literal["peaknet-bench-results"] = SCHEMA_NAME
    schema_version: Literal[1] = SCHEMA_VERSION
    created_utc: str
    method: MethodIdentity
    dataset: DatasetIdentity
    indexer: IndexerIdentity
    min_peaks: int = Field(ge=0)
    match_radius_px: float = Field(gt=0)
    metrics: Metrics
    throughput: Throughput
    environment: Environment
    frames: list[FrameResult]

    def stable_dict(self) -> dict[str, Any]:
        """Everything that must be identical when the same inputs are evaluated again."""
        return self.model_dump(mode="json", exclude=set(VOLATILE_FIELDS))


def schema_json() -> str:
    """The JSON Schema of the results file (what `results.schema.json` holds)."""
    schema = Results.model_json_schema()
    schema["$id"] = f"https://peaknet-bench/schemas/{SCHEMA_NAME}-v{SCHEMA_VERSION}.json"
    schema["title"] = f"{SCHEMA_NAME} v{SCHEMA_VERSION}"
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def write_results(results: Results, path: str | os.PathLike) -> None:
    """Write a results file atomically (strict JSON: NaN never appears, None is null)."""
    from peaknet_bench.util.atomic import write_text_atomic

    write_text_atomic(path, results.model_dump_json(indent=1) + "\n")


def load_results(path: str | os.PathLike) -> Results:
    """Read and validate a results file; InputError names the file and the failing field."""
    from peaknet_bench.util.structured import read_json_schema

    p = Path(path)
    data = read_json_schema(p, SCHEMA_NAME, SCHEMA_VERSION)
    try:
        return Results.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(x) for x in err["loc"])
        raise InputError(str(p), where, f"{err['msg']} ({len(exc.errors())} error(s) in all)") from None


def write_schema(path: str | os.PathLike = SCHEMA_FILE) -> None:
    from peaknet_bench.util.atomic import write_text_atomic

    write_text_atomic(path, schema_json())


if __name__ == "__main__":
    write_schema()
    print(f"wrote {SCHEMA_FILE}")
