"""The benchmarks the board accepts (`leaderboard/benchmarks.yaml`) and their frames.

A benchmark is a dataset name + version + split. The board holds the frames' ground truth
itself (held-in labels), so it can recompute a submission's metrics from its predicted peak
lists alone. Two sources:

* ``simulated`` – frames `start .. start+n_frames-1` of a simulator experiment and seed
  (deterministic: the board regenerates frames and truth bit for bit);
* ``dataset`` – a split of a versioned dataset (`datasets/<name>/<version>/`), read from a
  local copy (`path`, or the download cache: `peaknet-bench dataset download`) through
  `peaknet_bench.evaluate.frames.DatasetFrames`; `experiment` picks one experiment when
  the split holds several, `start`/`n_frames` a range of it (0 = all).

The pinned `sha256` identifies the frame set: for a simulated benchmark the sha256 of the
canonical JSON of (experiment sha256, seed, start, n_frames); for a dataset, the sha256 of
its manifest.json (which lists the sha256 of every file). A change in either is a new
version, never a silent edit.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from peaknet_bench.errors import InputError

BENCHMARKS_NAME = "benchmarks.yaml"


class Benchmark(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    version: str
    split: str
    source: Literal["simulated", "dataset"]
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    description: str = ""
    experiment: str | None = None  # simulated: experiment name or YAML; dataset: which experiment of the split
    seed: int = 0
    start: int = Field(0, ge=0)
    n_frames: int = Field(0, ge=0)
    path: str | None = None  # dataset: local copy (default: the fetch cache)

    @property
    def key(self) -> str:
        return f"{self.name}/{self.version}/{self.split}"


@dataclass
class BenchmarkRegistry:
    """The benchmarks a board accepts (its benchmarks.yaml)."""

    path: Path
    benchmarks: list[Benchmark]

    def find(self, name: str, version: str, split: str) -> Benchmark | None:
        for b in self.benchmarks:
            if (b.name, b.version, b.split) == (name, version, split):
                return b
        return None

    def known(self) -> list[str]:
        return [b.key for b in self.benchmarks]


def load_registry(board: str | os.PathLike) -> BenchmarkRegistry:
    """The benchmarks of `board`: its own benchmarks.yaml, else (a new board of one's own, a
    wheel install) the shipped registry."""
    path = Path(board) / BENCHMARKS_NAME
    if not path.exists():
        from peaknet_bench.util.shipped import shipped_path

        shipped = shipped_path("leaderboard", BENCHMARKS_NAME)
        path = shipped if shipped.is_file() else path
    from peaknet_bench.util.structured import read_yaml

    data = read_yaml(path, "benchmarks.yaml (is this a leaderboard folder?)")
    out = []
    for i, item in enumerate(data.get("benchmarks") or []):
        try:
            if isinstance(item, dict) and "version" in item:
                item = {**item, "version": str(item["version"])}
            out.append(Benchmark.model_validate(item))
        except ValidationError as exc:
            err = exc.errors()[0]
            raise InputError(str(path), f"benchmarks[{i}]." + ".".join(str(x) for x in err["loc"]), err["msg"]) from None
    keys = [b.key for b in out]
    if len(set(keys)) != len(keys):
        raise InputError(str(path), "benchmarks", f"repeated benchmarks: {keys}")
    return BenchmarkRegistry(path, out)


def frame_source(bench: Benchmark, board: str | os.PathLike):
    """The benchmark's frames with truth, as an evaluation frame source."""
    if bench.source == "simulated":
        from peaknet_bench.evaluate.frames import SimulatedFrames

        experiment = bench.experiment or ""
        local = Path(board) / experiment
        return SimulatedFrames(str(local) if local.is_file() else experiment, bench.seed, bench.n_frames, bench.start)
    from peaknet_bench.evaluate.frames import DatasetFrames

    if bench.path is not None:
        root = Path(bench.path)
    else:
        from peaknet_bench.data import fetch

        root = fetch(bench.name, bench.version)
    return DatasetFrames(root, split=bench.split, experiment=bench.experiment, start=bench.start,
                         n_frames=bench.n_frames or None)


def compute_sha256(bench: Benchmark, board: str | os.PathLike) -> str:
    """The frame-set checksum from the current inputs (compare with the pinned one)."""
    from peaknet_bench.evaluate.methods import canonical_json, sha256_file, sha256_text

    if bench.source == "simulated":
        ident = frame_source(bench, board).identity()
        return sha256_text(canonical_json({k: ident[k] for k in ("experiment_sha256", "seed", "start", "n_frames")}))
    from peaknet_bench.data.download import resolve_version

    return sha256_file(resolve_version(bench.name, bench.version) / "manifest.json")


def expected_events(bench: Benchmark, source) -> list[str]:
    """Event ids of the benchmark's frames, in order (what predictions must cover exactly once)."""
    if bench.source == "simulated":
        return [f"//{i}" for i in source.indices()]
    return list(source.events())


def identity_problems(bench: Benchmark, dataset: dict[str, Any], source_identity: dict[str, Any]) -> list[str]:
    """Differences between a results file's dataset block and the benchmark's frames."""
    keys = ("experiment_sha256", "seed", "start", "n_frames") if bench.source == "simulated" else ("sha256", "n_frames")
    return [f"results.dataset.{k}: {dataset.get(k)!r} is not the benchmark's {source_identity.get(k)!r}"
            for k in keys if dataset.get(k) != source_identity.get(k)]
