"""The data engine's settings as one block (a recipe's `engine:` mapping, or the file
`engine run --config` reads): EngineConfig (PeakDiff, curation, fit) + the classic finder's
parameters.

    predictions: truth | indexer      (dataset recipes only)
    batch_size: 16
    finder: pf8 | dispersion          (dataset recipes: whose peaks are labelled; default pf8)
    peakfinder8: {Peakfinder8Params fields}
    dispersion: {DispersionParams fields}
    peakdiff: {PeakDiffConfig fields}
    curation: {CurationConfig fields}
    fit: {FitConfig fields}
    fit_peaks: matched | found
    unfit_label: none | half_max      (a rejected fit's peak: unlabelled, or labelled from its pixels)
    photon_scale: true
"""

from __future__ import annotations

import os
from typing import Any

from peaknet_bench.errors import InputError

ENGINE_KEYS = {"predictions", "batch_size", "finder", "peakfinder8", "dispersion", "peakdiff", "curation", "fit",
               "fit_peaks", "unfit_label", "photon_scale"}
LABEL_FINDERS = ("pf8", "dispersion")


def engine_config(settings: dict[str, Any], source: str = "recipe.yaml"):
    """(EngineConfig, Peakfinder8Params) from an `engine` settings mapping (missing keys: the
    dataclasses' defaults)."""
    from peaknet_bench.engine.curation import CurationConfig
    from peaknet_bench.engine.peakdiff import PeakDiffConfig
    from peaknet_bench.engine.profile import FitConfig
    from peaknet_bench.engine.run import EngineConfig
    from peaknet_bench.peakfind import Peakfinder8Params

    unknown = sorted(set(settings) - ENGINE_KEYS)
    if unknown:
        raise InputError(source, "engine", f"unknown setting(s) {unknown}; expected {sorted(ENGINE_KEYS)}")
    try:
        fit = dict(settings.get("fit", {}))
        if "restart_etas" in fit:
            fit["restart_etas"] = tuple(fit["restart_etas"])
        config = EngineConfig(
            peakdiff=PeakDiffConfig(**settings.get("peakdiff", {})),
            curation=CurationConfig(**settings.get("curation", {})),
            fit=FitConfig(**fit),
            fit_peaks=settings.get("fit_peaks", "matched"),
            unfit_label=settings.get("unfit_label", "none"),
            photon_scale=bool(settings.get("photon_scale", True)),
        )
        pf8 = Peakfinder8Params(**settings.get("peakfinder8", {}))
    except TypeError as exc:
        raise InputError(source, "engine", str(exc)) from None
    return config, pf8


def label_finder(settings: dict[str, Any], pf8_params, source: str = "recipe.yaml"):
    """The MethodSpec of the classic finder whose peaks the engine labels: peakfinder8 (the
    paper's choice; `pf8_params` as `engine_config` parsed them) or the dispersion finder
    (DIALS' strong spots, the reference that models are judged against on real data)."""
    from peaknet_bench.peakfind.methods import pf8_method

    kind = settings.get("finder", "pf8")
    if kind not in LABEL_FINDERS:
        raise InputError(source, "engine.finder", f"expected one of {list(LABEL_FINDERS)}, got {kind!r}")
    return dispersion_spec(settings, source) if kind == "dispersion" else pf8_method(pf8_params)


def dispersion_spec(settings: dict[str, Any], source: str = "recipe.yaml"):
    """The dispersion finder with the settings' `dispersion` block (DIALS' defaults where absent)."""
    from peaknet_bench.peakfind.dispersion import DispersionParams
    from peaknet_bench.peakfind.methods import dispersion_method

    return dispersion_method(DispersionParams.from_dict(settings.get("dispersion", {}), source=source))


def read_engine_settings(path: str | os.PathLike) -> dict[str, Any]:
    """The `engine` block of a YAML/JSON file: the file itself, or its `engine:` key (a recipe)."""
    from peaknet_bench.util.structured import read_yaml

    data = read_yaml(path, "engine settings file")
    if not isinstance(data, dict):
        raise InputError(str(path), None, "expected a mapping of engine settings")
    return dict(data.get("engine", data))
