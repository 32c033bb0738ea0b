"""Peak-finding methods by name: one `--method` for `peaks find`, `engine run`, `evaluate`,
`leaderboard predict` (and the model that `infer` runs), each with a stable identity.

A `MethodSpec` is what a results file records about a method: a display name, a kind and
its parameters; the sha256 of the canonical parameters JSON (sorted keys, no spaces)
identifies the parameter set, so two results files can be compared only when they ran the
same method with the same parameters. `build_finder(spec, geometry)` turns a spec into a
`PeakFinder` (the protocol in `peaknet_bench.peakfind.base`), in whichever process runs it:
specs are small and picklable, finders may hold compiled kernels or a network.

Kinds (the registry `FINDER_KINDS`; a new kind is one registered `FinderKind` class):

* ``pf8`` – peakfinder8 with a parameter set (`Peakfinder8Params`);
* ``dispersion`` – DIALS' extended dispersion spot finder (`DispersionParams`; `--params` a
  JSON of them): what DIALS reference spot lists are made with;
* ``peaks-cxi`` – precomputed peak lists read from a CXI file by frame index (any
  external method: the CXI peak table is CrystFEL's exchange format);
* ``model`` – a PeakNet checkpoint, run by ``peaknet_bench.infer.model_runner.ModelPeakFinder``
  with exactly the training preprocessing and the inference pipeline's peak extraction
  (the kind lives with the models, in ``peaknet_bench.evaluate.methods``, and is looked up
  by name here, so this layer never imports the model stack);
* ``oracle`` – the simulator's found-able reflections: the ceiling any method can reach
  on simulated frames (and a known-answer check of the harness itself).
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from peaknet_bench.errors import InputError
from peaknet_bench.frame import Frame, PeakList
from peaknet_bench.util.registry import NameRegistry
from peaknet_bench.util.stamp import sha256_file


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
        if self.kind not in FINDER_KINDS:
            raise InputError(None, "method", f"unknown method kind {self.kind!r}; expected one of {FINDER_KINDS.names()}")

    @property
    def params_sha256(self) -> str:
        return sha256_text(canonical_json(self.params))

    def identity(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "params": self.params, "params_sha256": self.params_sha256}


# ------------------------------------------------------------------ kinds
class FinderKind:
    """One kind of peak finder: which `--method` values name it, the spec it records, and the
    `PeakFinder` it builds for a geometry (`truth_of(frame)`: a frame source's ground truth,
    for kinds that need it)."""

    name: ClassVar[str]
    description: ClassVar[str]
    takes_params: ClassVar[bool] = False  # whether spec() takes a --params mapping (read from params_source)

    @classmethod
    def accepts(cls, method: str) -> bool:
        return method == cls.name

    @classmethod
    def spec(cls, method: str, name: str | None, device: str, params: dict | None = None,
             params_source: str | None = None) -> MethodSpec:
        return MethodSpec(name or cls.name, cls.name, {})

    @classmethod
    def build(cls, spec: MethodSpec, geometry, truth_of: Callable[[Frame], Any] | None = None):
        raise NotImplementedError


def _resolve(ref: str) -> type[FinderKind]:
    module, _, attr = ref.partition(":")
    return getattr(importlib.import_module(module), attr)


# name -> "module:FinderKind class", resolved when used (a model kind loads torch only then).
FINDER_KINDS: NameRegistry[str] = NameRegistry("peak finder", flag="--method")


def register_finder_kind(name: str, ref: str, overwrite: bool = False) -> None:
    """Register a kind of peak finder: `ref` = "module:ClassName" of a `FinderKind`."""
    FINDER_KINDS.register(name, ref, overwrite)


def finder_kind(name: str) -> type[FinderKind]:
    return _resolve(FINDER_KINDS.get(name))


class Peakfinder8Kind(FinderKind):
    name = "pf8"
    description = "peakfinder8 (CrystFEL's defaults, or --params / the pf8 options)"

    @classmethod
    def spec(cls, method: str, name: str | None, device: str, params: dict | None = None,
             params_source: str | None = None) -> MethodSpec:
        return pf8_method(None, name)

    @classmethod
    def build(cls, spec, geometry, truth_of=None):
        from peaknet_bench.peakfind.peakfinder8 import Peakfinder8, Peakfinder8Params

        return Peakfinder8(Peakfinder8Params.from_dict(spec.params, source=f"method {spec.name}"), geometry)


class DispersionKind(FinderKind):
    name = "dispersion"
    description = "DIALS' extended dispersion spot finder (its defaults, or --params JSON/YAML)"
    takes_params = True  # --params: DispersionParams fields (DIALS' names)

    @classmethod
    def spec(cls, method: str, name: str | None, device: str, params: dict | None = None,
             params_source: str | None = None) -> MethodSpec:
        from peaknet_bench.peakfind.dispersion import DispersionParams

        values = None if params is None else DispersionParams.from_dict(params, source=params_source or "--params")
        return dispersion_method(values, name)

    @classmethod
    def build(cls, spec, geometry, truth_of=None):
        from peaknet_bench.peakfind.dispersion import DispersionFinder, DispersionParams

        return DispersionFinder(DispersionParams.from_dict(spec.params, source=f"method {spec.name}"), geometry)


class CXIPeaksKind(FinderKind):
    name = "peaks-cxi"
    description = "precomputed peak lists: a CXI file (CrystFEL's exchange format), by frame index"

    @classmethod
    def accepts(cls, method: str) -> bool:
        p = Path(method)
        return p.suffix in (".cxi", ".h5") and p.is_file()

    @classmethod
    def spec(cls, method: str, name: str | None, device: str, params: dict | None = None,
             params_source: str | None = None) -> MethodSpec:
        return cxi_peaks_method(method, name)

    @classmethod
    def build(cls, spec, geometry, truth_of=None):
        return CXIPeaksFinder(spec.params["path"], geometry)


class OracleKind(FinderKind):
    name = "oracle"
    description = "the true found-able reflections (needs frames with ground truth)"

    @classmethod
    def build(cls, spec, geometry, truth_of=None):
        return OracleFinder(truth_of)


for _name, _ref in (("pf8", "peaknet_bench.peakfind.methods:Peakfinder8Kind"),
                    ("dispersion", "peaknet_bench.peakfind.methods:DispersionKind"),
                    ("oracle", "peaknet_bench.peakfind.methods:OracleKind"),
                    ("peaks-cxi", "peaknet_bench.peakfind.methods:CXIPeaksKind"),
                    ("model", "peaknet_bench.evaluate.methods:ModelKind")):
    register_finder_kind(_name, _ref)


# ------------------------------------------------------------------ constructors
def load_pf8_params(path: str | os.PathLike | None):
    """Peakfinder8 parameters from a JSON file (plain parameters, `{"peakfinder8": ...}` or a
    tuner output, which stores them under "peakfinder8"); defaults when `path` is None."""
    from peaknet_bench.peakfind.peakfinder8 import Peakfinder8Params

    return Peakfinder8Params() if path is None else Peakfinder8Params.from_json(path)


def pf8_method(params=None, name: str | None = None) -> MethodSpec:
    """peakfinder8 with `params` (a Peakfinder8Params; CrystFEL's defaults when None)."""
    from peaknet_bench.peakfind.peakfinder8 import Peakfinder8Params

    params = params or Peakfinder8Params()
    return MethodSpec(name or "pf8", "pf8", params.to_dict())


def dispersion_method(params=None, name: str | None = None) -> MethodSpec:
    """The dispersion spot finder with `params` (a DispersionParams; DIALS' defaults when None)."""
    from peaknet_bench.peakfind.dispersion import DispersionParams

    return MethodSpec(name or "dispersion", "dispersion", (params or DispersionParams()).to_dict())


def cxi_peaks_method(path: str | os.PathLike, name: str | None = None) -> MethodSpec:
    """Precomputed peak lists in a CXI file; identified by the file's sha256."""
    p = Path(path)
    if not p.is_file():
        raise InputError(str(path), None, "peak-list CXI file not found")
    return MethodSpec(name or p.stem, "peaks-cxi", {"path": str(p.resolve()), "sha256": sha256_file(p)})


def model_method(checkpoint: str | os.PathLike, name: str | None = None, device: str = "cpu",
                 extraction=None) -> MethodSpec:
    """A PeakNet checkpoint (.safetensors or a checkpoint directory); identified by its sha256.
    `extraction`: an ExtractionConfig (how its segmentation becomes peaks; default: the defaults)."""
    from dataclasses import asdict

    return finder_kind("model").spec(str(checkpoint), name, device, None if extraction is None else asdict(extraction))


def oracle_method() -> MethodSpec:
    """The simulator's found-able reflections (needs frames with ground truth)."""
    return MethodSpec("oracle", "oracle", {})


def parse_method(method: str, params_path: str | None = None, name: str | None = None, device: str = "cpu",
                 pf8_params=None) -> MethodSpec:
    """The commands' `--method`: "pf8" (with `--params`, or `pf8_params` already resolved from
    the pf8 options), "dispersion", "oracle", a .cxi peak file, or a model checkpoint
    (.safetensors file or checkpoint directory) — whichever registered kind accepts it; kinds
    that take parameters read the `--params` mapping (YAML or JSON)."""
    if method == "pf8":
        params = pf8_params if pf8_params is not None else load_pf8_params(params_path)
        return pf8_method(params, name=name or ("pf8-tuned" if params_path else "pf8-default"))
    for kind_name in FINDER_KINDS.names():
        kind = finder_kind(kind_name)
        if kind.accepts(method):
            if params_path is None:
                return kind.spec(method, name, device)
            if not kind.takes_params:
                raise InputError(None, "--params", f"parameters apply to --method pf8, dispersion or a model, not {method!r}")
            from peaknet_bench.util.structured import read_mapping

            return kind.spec(method, name, device, params=read_mapping(params_path, f"{kind_name} parameters"),
                             params_source=params_path)
    raise InputError(None, "--method", f"expected pf8, dispersion, oracle, a .cxi peak-list file or a model checkpoint, got {method!r}")


def build_finder(spec: MethodSpec, geometry, truth_of: Callable[[Frame], Any] | None = None):
    """The PeakFinder a spec describes, for frames of `geometry` (the oracle reads truth through
    `truth_of(frame)` where frames carry none themselves)."""
    return finder_kind(spec.kind).build(spec, geometry, truth_of)


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
