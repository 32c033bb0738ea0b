"""Peak-finding methods under evaluation, each with a stable identity.

A `MethodSpec` is what a results file records about a method: a display name, a kind and
its parameters; the sha256 of the canonical parameters JSON (sorted keys, no spaces)
identifies the parameter set, so two results files can be compared only when they ran the
same method with the same parameters. `build_finder(spec, geometry)` turns a spec into a
`PeakFinder` (the protocol in `peaknet_bench.peakfind`), in whichever process runs it:
specs are small and picklable, finders may hold compiled kernels or a network.

Kinds:

* ``pf8`` – peakfinder8 with a parameter set (`Peakfinder8Params`);
* ``peaks-cxi`` – precomputed peak lists read from a CXI file by frame index (any
  external method: the CXI peak table is CrystFEL's exchange format);
* ``model`` – a PeakNet checkpoint, run by ``peaknet_bench.infer.model_runner.ModelPeakFinder``
  with exactly the training preprocessing (assemble, pad/crop on the beam, z-score) and the
  inference pipeline's peak extraction;
* ``oracle`` – the simulator's found-able reflections: the ceiling any method can reach
  on simulated frames (and a known-answer check of the harness itself).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from peaknet_bench.errors import InputError
from peaknet_bench.frame import Frame, PeakList
from peaknet_bench.util.stamp import sha256_file

KINDS = ("pf8", "peaks-cxi", "model", "oracle")


def canonical_json(value: Any) -> str:
    """Sorted-key, separator-tight JSON: the bytes a parameter hash is taken over."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class MethodSpec:
    """A method's identity: name, kind and JSON-serialisable parameters."""

    name: str
    kind: str
    params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise InputError(None, "method", f"unknown method kind {self.kind!r}; expected one of {list(KINDS)}")

    @property
    def params_sha256(self) -> str:
        return sha256_text(canonical_json(self.params))

    def identity(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "params": self.params, "params_sha256": self.params_sha256}


# ------------------------------------------------------------------ constructors
def load_pf8_params(path: str | os.PathLike | None):
    """Peakfinder8 parameters from a JSON file (plain parameters, `{"peakfinder8": ...}` or a
    tuner output, which stores them under "peakfinder8"); defaults when `path` is None."""
    from peaknet_bench.peakfind import Peakfinder8Params

    return Peakfinder8Params() if path is None else Peakfinder8Params.from_json(path)


def pf8_method(params=None, name: str | None = None) -> MethodSpec:
    """peakfinder8 with `params` (a Peakfinder8Params; CrystFEL's defaults when None)."""
    from peaknet_bench.peakfind import Peakfinder8Params

    params = params or Peakfinder8Params()
    return MethodSpec(name or "pf8", "pf8", params.to_dict())


def cxi_peaks_method(path: str | os.PathLike, name: str | None = None) -> MethodSpec:
    """Precomputed peak lists in a CXI file; identified by the file's sha256."""
    p = Path(path)
    if not p.is_file():
        raise InputError(str(path), None, "peak-list CXI file not found")
    return MethodSpec(name or p.stem, "peaks-cxi", {"path": str(p.resolve()), "sha256": sha256_file(p)})


def model_method(checkpoint: str | os.PathLike, name: str | None = None, device: str = "cpu") -> MethodSpec:
    """A PeakNet checkpoint (.safetensors or a checkpoint directory); identified by its sha256."""
    from peaknet_bench.models.peaknet import weights_file
    from peaknet_bench.util.device import check_device

    check_device(device)  # here, before workers start: not as a traceback from inside one
    p = weights_file(checkpoint)
    return MethodSpec(name or Path(checkpoint).stem, "model",
                      {"checkpoint": str(p.resolve()), "sha256": sha256_file(p), "device": device})


def oracle_method() -> MethodSpec:
    """The simulator's found-able reflections (needs frames with ground truth)."""
    return MethodSpec("oracle", "oracle", {})


# ------------------------------------------------------------------ finders
class CXIPeaksFinder:
    """Peak lists stored in a CXI file, looked up by the frame's index in its run."""

    name = "peaks-cxi"

    def __init__(self, path: str, geometry) -> None:
        from peaknet_bench.io.cxi import CXIReader

        self.path = path
        self.reader = CXIReader(path, geometry)
        if not self.reader.has_peaks:
            raise InputError(path, "/entry_1/result_1/nPeaks", "missing: the file holds no peak lists")

    def find(self, frame: Frame) -> PeakList:
        index = frame_index(frame)
        if not 0 <= index < len(self.reader):
            raise InputError(self.path, "nPeaks", f"no peak list for frame {index} (file has {len(self.reader)})")
        return self.reader.peaks(index)


class OracleFinder:
    """Returns the frame's found-able true reflections: from the simulator's truth attached to
    the frame, or from `truth_of(frame)` (a frame source's truth, e.g. a dataset's stored
    truth tables)."""

    name = "oracle"

    def __init__(self, truth_of: Callable[[Frame], Any] | None = None) -> None:
        self.truth_of = truth_of

    def find(self, frame: Frame) -> PeakList:
        if frame.truth is not None:
            return frame.truth.foundable_peaks()
        view = self.truth_of(frame) if self.truth_of is not None else None
        if view is None:
            raise InputError(frame.event, "truth", "the oracle method needs frames with ground truth "
                                                   "(simulated, a run with its truth sidecar, or a dataset with truth tables)")
        return view.foundable


def frame_index(frame: Frame) -> int:
    """A frame's index in its run: `meta["index"]` (set by the simulator and CXIReader), else
    the CrystFEL event `//i`."""
    if "index" in frame.meta:
        return int(frame.meta["index"])
    event = frame.event or ""
    if event.startswith("//") and event[2:].isdigit():
        return int(event[2:])
    raise InputError(event, "event", "cannot tell the frame's index (expected meta['index'] or an event '//i')")


def build_finder(spec: MethodSpec, geometry, source: Any = None):
    """The PeakFinder a spec describes, for frames of `geometry` (the oracle reads truth
    through `source.truth(frame)` where frames carry none themselves)."""
    if spec.kind == "pf8":
        from peaknet_bench.peakfind import Peakfinder8, Peakfinder8Params

        return Peakfinder8(Peakfinder8Params.from_dict(spec.params, source=f"method {spec.name}"), geometry)
    if spec.kind == "peaks-cxi":
        return CXIPeaksFinder(spec.params["path"], geometry)
    if spec.kind == "model":
        from peaknet_bench.infer.config import RunnerConfig
        from peaknet_bench.infer.model_runner import ModelPeakFinder

        return ModelPeakFinder(spec.params["checkpoint"], geometry,
                               RunnerConfig(device=spec.params.get("device", "cpu"), batch_size=1), name=spec.name)
    return OracleFinder(None if source is None else source.truth)


def parse_method(method: str, params_path: str | None = None, name: str | None = None, device: str = "cpu") -> MethodSpec:
    """The CLI's `--method`: "pf8" (with `--params`), "oracle", a .cxi peak file, or a model
    checkpoint (.safetensors file or checkpoint directory)."""
    if method == "pf8":
        return pf8_method(load_pf8_params(params_path), name=name or ("pf8-tuned" if params_path else "pf8-default"))
    if params_path is not None:
        raise InputError(None, "--params", f"parameters apply to --method pf8 only, not {method!r}")
    if method == "oracle":
        return oracle_method()
    p = Path(method)
    if p.suffix in (".cxi", ".h5") and p.is_file():
        return cxi_peaks_method(p, name)
    if p.suffix == ".safetensors" or p.is_dir():
        return model_method(p, name, device)
    raise InputError(None, "--method", f"expected pf8, oracle, a .cxi peak-list file or a model checkpoint, got {method!r}")
