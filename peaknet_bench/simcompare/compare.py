"""Real versus simulated frames, measured the same way: `compare_real_and_simulated` (what
`peaknet-bench sim compare` runs), its defaults (`CompareConfig`) and the summary table.

Real frames come through the one frame reader entry point (`io.open_frames`), simulated ones
from `sim.Simulator(experiment, seed)`; each set goes through the same
`measure.FrameSetMeasurement` (radial background profile in |q| bins common to both sets,
pixel statistics, peak finder spots and their pseudo-Voigt fits) and the two are set side
by side: per quantity the median and interquartile range of each set (over frames for
frame-level quantities, over spots for spot-level ones), the ratio sim/real and a verdict
that names the experiment YAML fields that move that quantity.
"""

from __future__ import annotations

import itertools
import math
import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from peaknet_bench.engine.profile import FitConfig
from peaknet_bench.errors import InputError
from peaknet_bench.frame import HIT_MIN_PEAKS, Frame
from peaknet_bench.simcompare.measure import FrameSetMeasurement, Gain, RadialBinner, geometry_gain, pixel_q

JSON_NAME = "compare.json"
PNG_NAME = "compare.png"


@dataclass(frozen=True)
class CompareConfig:
    """What `sim compare` measures and how (each default is the command's)."""

    n_frames: int = 8  # simulated frames
    seed: int = 1  # simulation seed
    # peakfinder8's ADC threshold, when neither --threshold nor --params sets it: this many
    # photons times the experiment's ADU per photon (CrystFEL's 800 ADU would miss most spots
    # of a photon-counting detector)
    threshold_photons: float = 5.0
    real_adu_per_photon: float | None = None  # None: the real files' geometry, else the experiment's (assumed)
    q_bins: int = 40  # |q| bins of the radial profile, over the range either set covers
    min_bin_pixels: int = 200  # a bin with fewer good pixels in a frame has no statistics there
    pixel_sample: int = 200_000  # good pixels per frame kept for the pixel-value histogram
    hist_bins: int = 100  # bins of the pixel-value histogram
    agree_factor: float = 1.25  # sim/real within [1/x, x]: "≈ real"
    off_factor: float = 2.0  # beyond [1/x, x]: flagged "!"
    fit: FitConfig = field(default_factory=FitConfig)  # the engine's pseudo-Voigt fit (window, χ² acceptance)

    def __post_init__(self) -> None:
        checks = [
            ("n_frames", self.n_frames >= 1, "an integer >= 1"),
            ("threshold_photons", math.isfinite(self.threshold_photons) and self.threshold_photons > 0,
             "a positive number of photons"),
            ("real_adu_per_photon", self.real_adu_per_photon is None or (math.isfinite(self.real_adu_per_photon)
                                                                         and self.real_adu_per_photon > 0),
             "a positive number (ADU per photon)"),
            ("q_bins", self.q_bins >= 3, "an integer >= 3"),
            ("min_bin_pixels", self.min_bin_pixels >= 1, "an integer >= 1"),
            ("pixel_sample", self.pixel_sample >= 1000, "an integer >= 1000"),
            ("hist_bins", self.hist_bins >= 10, "an integer >= 10"),
            ("agree_factor", self.agree_factor > 1, "a factor > 1"),
            ("off_factor", self.off_factor >= self.agree_factor, "a factor >= agree_factor"),
        ]
        for name, ok, expected in checks:
            if not ok:
                raise InputError(None, name, f"expected {expected}, got {getattr(self, name)!r}")


# ---------------------------------------------------------------- the finder
def default_pf8_params(experiment, config: CompareConfig = CompareConfig()):
    """peakfinder8 with CrystFEL's defaults but the ADC threshold at `threshold_photons` photons
    of the experiment's detector (the base that --params and the pf8 options override)."""
    from peaknet_bench.peakfind.peakfinder8 import Peakfinder8Params

    return Peakfinder8Params(threshold=config.threshold_photons * _experiment_gain(experiment))


def _experiment_gain(experiment) -> float:
    return geometry_gain(experiment.geometry()) or experiment.detector.adu_per_photon or 1.0


# ---------------------------------------------------------------- the run
def compare_real_and_simulated(
    files: str | os.PathLike | Sequence[str | os.PathLike],
    experiment: Any,
    config: CompareConfig = CompareConfig(),
    *,
    method: Any = None,
    geom: Any = None,
    reader: str | None = None,
    output: str | os.PathLike | None = None,
    show_progress: bool | None = None,
) -> dict[str, Any]:
    """Measure the real frames of `files` (through `io.open_frames`; `geom`/`reader` as it
    takes them) and frames 0 .. `config.n_frames` − 1 of the simulated `experiment` (a name, a
    YAML path or an `Experiment`; `sim.Simulator(experiment, config.seed)`) the same way, and
    compare them (`compare_frames`).

    `method`: the peak finder (a `peakfind.methods.MethodSpec` of any registered kind; default
    peakfinder8 with `default_pf8_params`). With `output` (a folder) writes `compare.json`
    (every number) and `compare.png` (the figure) there, atomically. Returns the comparison.
    """
    from peaknet_bench.io.frames import open_frames
    from peaknet_bench.sim import Simulator, load_experiment

    t0 = time.perf_counter()
    if output is not None:
        _check_output(output)
    exp = load_experiment(experiment) if isinstance(experiment, (str, os.PathLike)) else experiment
    frames = open_frames(files, geom=geom, reader=reader)
    simulator = Simulator(exp, config.seed)
    with frames:
        n_real = len(frames)
        if n_real == 0:
            raise InputError(str(frames.paths[0]), None, "no frames to compare")
        result = compare_frames((frames.frame(i) for i in range(n_real)),
                                (simulator.frame(i) for i in range(config.n_frames)), config, method=method,
                                n_real=n_real, show_progress=show_progress)
        paths = [str(p) for p in frames.paths]
    result.update(
        experiment={"name": exp.name, "source": exp.source, "detector": exp.detector.geometry,
                    "clen_m": exp.detector.clen_m, "photon_energy_ev": exp.beam.photon_energy_ev},
        real_files=paths, seconds=time.perf_counter() - t0,
    )
    result["notes"] = notes(result)
    if output is not None:
        result["outputs"] = write_outputs(result, output)
    return result


def compare_frames(
    real_frames: Iterable[Frame],
    sim_frames: Iterable[Frame],
    config: CompareConfig = CompareConfig(),
    *,
    method: Any = None,
    n_real: int | None = None,
    show_progress: bool | None = None,
) -> dict[str, Any]:
    """Measure two sets of frames the same way and set them side by side (frames are read
    one at a time and not kept). The simulated frames' gain is their geometry's; the real
    frames' is `config.real_adu_per_photon`, else their geometry's, else assumed to be the
    simulated one. `method` as in `compare_real_and_simulated` (its default threshold uses
    the simulated gain). Radial bins span the |q| range of both sets' first frames."""
    from peaknet_bench.peakfind.methods import pf8_method
    from peaknet_bench.peakfind.peakfinder8 import Peakfinder8Params
    from peaknet_bench.peakfind.per_geometry import PerGeometryFinder
    from peaknet_bench.util.progress import bar

    t0 = time.perf_counter()
    real_it, sim_it = iter(real_frames), iter(sim_frames)
    first_real, first_sim = next(real_it, None), next(sim_it, None)
    if first_real is None or first_sim is None:
        raise InputError(None, "frames", f"no {'real' if first_real is None else 'simulated'} frames to compare")
    sim_gain = Gain(geometry_gain(first_sim.geometry) or 1.0, "experiment")
    real_gain = _real_gain(config, first_real.geometry, sim_gain)
    if method is None:
        method = pf8_method(Peakfinder8Params(threshold=config.threshold_photons * sim_gain.adu_per_photon), name="pf8")
    q_real = pixel_q(first_real.geometry, first_real.clen_m, first_real.wavelength_a)
    q_sim = pixel_q(first_sim.geometry, first_sim.clen_m, first_sim.wavelength_a)
    edges = _q_edges(q_real, q_sim, config.q_bins)
    binner = RadialBinner(edges, config.min_bin_pixels)
    binner.prime(first_real.geometry, first_real.clen_m, first_real.wavelength_a, q_real)
    binner.prime(first_sim.geometry, first_sim.clen_m, first_sim.wavelength_a, q_sim)
    del q_real, q_sim
    finder = PerGeometryFinder(method=method)
    real = FrameSetMeasurement("real", binner, finder, real_gain, fit=config.fit, pixel_sample=config.pixel_sample,
                               seed=0)
    sim = FrameSetMeasurement("simulated", binner, finder, sim_gain, fit=config.fit,
                              pixel_sample=config.pixel_sample, seed=config.seed)
    total = None if n_real is None else n_real + config.n_frames
    disable = None if show_progress is None else not show_progress
    with bar(total, desc="sim compare", disable=disable) as progress:
        for name, m, first, rest in (("real", real, first_real, real_it), ("sim", sim, first_sim, sim_it)):
            for frame in itertools.chain([first], rest):
                m.add(frame)
                progress.update(1)
                progress.set_postfix(set=name, spots=m.frames[-1]["n_spots"], refresh=False)
    result = _assemble(real.finish(), sim.finish(), edges, config)
    result.update(finder=method.identity(), config=_config_dict(config), seconds=time.perf_counter() - t0)
    result["notes"] = notes(result)
    return result


def _real_gain(config: CompareConfig, geometry, sim_gain: Gain) -> Gain:
    if config.real_adu_per_photon is not None:
        return Gain(float(config.real_adu_per_photon), "option")
    value = geometry_gain(geometry)
    if value is not None:
        return Gain(value, "geometry")
    return Gain(sim_gain.adu_per_photon, "assumed: the experiment's")


def _q_edges(q_real: np.ndarray, q_sim: np.ndarray, n_bins: int) -> np.ndarray:
    lo = min(float(np.nanmin(q_real)), float(np.nanmin(q_sim)))
    hi = max(float(np.nanmax(q_real)), float(np.nanmax(q_sim)))
    return np.linspace(lo, hi * (1 + 1e-9), n_bins + 1)


def _config_dict(config: CompareConfig) -> dict[str, Any]:
    return asdict(config)


# ---------------------------------------------------------------- side by side
def _stats(values: np.ndarray) -> dict[str, Any]:
    v = np.asarray(values, np.float64)
    v = v[np.isfinite(v)]
    if not v.size:
        return {"n": 0, "median": float("nan"), "p25": float("nan"), "p75": float("nan")}
    p25, p50, p75 = np.percentile(v, (25.0, 50.0, 75.0))
    return {"n": int(v.size), "median": float(p50), "p25": float(p25), "p75": float(p75)}


def _pooled_profile(profile: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Per bin, the median over frames of each per-frame statistic."""
    import warnings

    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN bins stay NaN
        for k, v in profile.items():
            out[k] = np.nanmedian(v.astype(np.float64), axis=0) if k != "n_pixels" else v.sum(axis=0)
    return out


# (key, label, unit, the YAML fields that move it)
QUANTITIES: list[tuple[str, str, str, str]] = [
    ("background", "background (trimmed mean)", "ADU", "background.*_photons"),
    ("background_photons", "background (trimmed mean)", "photons", "background.*_photons"),
    ("background_inner", "background, inner |q| third", "ADU", "background.air_photons, beamstop"),
    ("background_middle", "background, middle |q| third", "ADU", "background.water_photons/diffuse_photons"),
    ("background_outer", "background, outer |q| third", "ADU", "background.diffuse_photons/diffuse_width"),
    ("pixel_spread", "pixel spread (p84-p16)/2", "ADU", "detector.read_noise_adu/common_mode_adu/adu_per_photon"),
    ("photon_transfer", "ADU/photon from var/mean", "ADU", "detector.adu_per_photon (real: --real-adu-per-photon)"),
    ("pixel_p999", "pixel value p99.9", "ADU", "detector.hot_fraction, crystals.spot_photons"),
    ("spots_per_frame", "spots per frame", "", "crystals.spot_photons/size_um/fluence, run.hit_fraction"),
    ("spots_per_hit", f"spots per hit (>= {HIT_MIN_PEAKS})", "", "crystals.spot_photons/size_um/fluence"),
    ("spot_q", "spot |q| = 1/d", "1/Å", "crystal.b_factor, beam.bandwidth, crystals.profile_radius"),
    ("fwhm", "spot FWHM (fit)", "px", "crystals.profile_radius, beam.divergence_urad, detector.psf_px"),
    ("aspect", "spot aspect (fit)", "", "crystals.spot_aspect"),
    ("eta", "spot eta (fit)", "", "crystals.eta"),
    ("half_max_pixels", "spot half-max pixels (fit)", "px", "crystals.profile_radius, detector.psf_px"),
    ("peak_pixels", "spot pixels (finder)", "px", "crystals.spot_photons"),
    ("intensity", "spot intensity (finder)", "ADU", "crystals.spot_photons/fluence/size_um"),
    ("intensity_photons", "spot intensity (fit)", "photons", "crystals.spot_photons/fluence/size_um"),
    ("fit_accepted", "fits accepted", "fraction", "-"),
]


def _frame_values(m: dict[str, Any], common: np.ndarray) -> dict[str, np.ndarray]:
    """Per-frame quantities of one set; `common`: the |q| bins both sets have statistics in."""
    frames = m["frames"]
    prof = m["profile"]
    gain = m["gain"].adu_per_photon
    thirds = np.array_split(np.flatnonzero(common), 3) if common.sum() >= 3 else [np.zeros(0, int)] * 3
    out: dict[str, np.ndarray] = {
        "background": np.array([f["trimmed_mean"] for f in frames]),
        "pixel_p999": np.array([f["p999"] for f in frames]),
        "spots_per_frame": np.array([f["n_spots"] for f in frames], np.float64),
    }
    out["spots_per_hit"] = out["spots_per_frame"][out["spots_per_frame"] >= HIT_MIN_PEAKS]
    out["background_photons"] = out["background"] / gain
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for name, bins in zip(("inner", "middle", "outer"), thirds):
            out[f"background_{name}"] = np.nanmean(prof["trimmed_mean"][:, bins], axis=1) if bins.size \
                else np.full(len(frames), np.nan)
        spread = 0.5 * (prof["p84"] - prof["p16"])
        out["pixel_spread"] = np.nanmedian(spread[:, common], axis=1) if common.any() else np.full(len(frames), np.nan)
    out["photon_transfer"] = np.array([photon_transfer(m_, v_) for m_, v_ in
                                       zip(prof["trimmed_mean"][:, common], prof["trimmed_var"][:, common])])
    return out


def photon_transfer(mean: np.ndarray, var: np.ndarray, min_bins: int = 5) -> float:
    """The slope of variance against mean over the |q| bins of one frame (ADU): the gain, ADU
    per photon, where the background is Poisson photons (var = g·mean + read noise² + ...).
    NaN with fewer than `min_bins` bins or too little range in the mean (< 10 % of its level).
    Biased up where the background changes steeply across one bin (a sharp ring adds the
    spread of means within the bin), and a little down by the p99 trim of discrete photons."""
    ok = np.isfinite(mean) & np.isfinite(var)
    m, v = mean[ok], var[ok]
    if m.size < min_bins or np.ptp(m) < 0.1 * max(np.abs(m).max(), 1e-9):
        return float("nan")
    return float(np.polyfit(m, v, 1)[0])


def _spot_values(m: dict[str, Any]) -> dict[str, np.ndarray]:
    s = m["spots"]
    acc = s["accepted"]
    return {
        "fwhm": s["fwhm_px"][acc], "aspect": s["aspect"][acc], "eta": s["eta"][acc],
        "half_max_pixels": s["half_max_pixels"][acc], "peak_pixels": s["npix"], "intensity": s["intensity"],
        "spot_q": s["q"],
        "intensity_photons": s["fit_photons"][acc],
    }


def verdict(ratio: float | None, knob: str, config: CompareConfig = CompareConfig()) -> str:
    """"≈ real" within agree_factor, else "sim 1.3x real -> <YAML fields>" ("!" beyond off_factor)."""
    if ratio is None or not math.isfinite(ratio) or ratio <= 0:
        return "n/a"
    if abs(math.log(ratio)) <= math.log(config.agree_factor):
        return "≈ real"
    flag = "! " if abs(math.log(ratio)) > math.log(config.off_factor) else ""
    hint = f" -> {knob}" if knob and not knob.startswith("-") else ""
    return f"{flag}sim {ratio:.2g}x real{hint}"


def summary_rows(real: dict[str, Any], sim: dict[str, Any], common: np.ndarray,
                 config: CompareConfig = CompareConfig()) -> list[dict[str, Any]]:
    """One row per quantity (QUANTITIES): each set's median and IQR, sim/real and a verdict."""
    values = {"real": {**_frame_values(real, common), **_spot_values(real)},
              "simulated": {**_frame_values(sim, common), **_spot_values(sim)}}
    for name, m in (("real", real), ("simulated", sim)):
        fitted = m["spots"]["fitted"]
        frac = float(m["spots"]["accepted"].sum() / fitted.sum()) if fitted.any() else float("nan")
        values[name]["fit_accepted"] = np.array([frac])
    rows = []
    for key, label, unit, knob in QUANTITIES:
        r, s = _stats(values["real"][key]), _stats(values["simulated"][key])
        ratio = s["median"] / r["median"] if r["median"] > 0 and math.isfinite(s["median"]) else None
        rows.append({"quantity": key, "label": label, "unit": unit, "real": r, "simulated": s, "ratio": ratio,
                     "verdict": verdict(ratio, knob, config) if key != "fit_accepted" else
                     ("≈ real" if ratio is not None and abs(math.log(max(ratio, 1e-9))) <= math.log(config.agree_factor)
                      else "fits differ" if ratio is not None else "n/a"),
                     "knob": knob})
    return rows


def _histogram(a: np.ndarray, b: np.ndarray, edges: np.ndarray) -> dict[str, Any]:
    out: dict[str, Any] = {"edges": edges}
    for name, v in (("real", a), ("simulated", b)):
        v = np.asarray(v, np.float64)
        v = v[np.isfinite(v)]
        counts = np.histogram(v, edges)[0]
        out[name] = {"counts": counts, "fraction": counts / max(v.size, 1),
                     "below": int((v < edges[0]).sum()), "above": int((v > edges[-1]).sum()), "n": int(v.size)}
    return out


def _pixel_edges(pooled: np.ndarray, n_bins: int) -> np.ndarray:
    lo, hi = np.percentile(pooled, (0.05, 99.95))
    if np.all(pooled == np.rint(pooled)):  # integer readouts: bins centred on whole ADU
        step = max(1.0, math.ceil((hi - lo + 1) / n_bins))
        return np.arange(math.floor(lo) - 0.5, math.ceil(hi) + 0.5 + step, step)
    return np.linspace(lo, hi, n_bins + 1)


def _histograms(real: dict[str, Any], sim: dict[str, Any], edges: np.ndarray, config: CompareConfig) -> dict[str, Any]:
    out: dict[str, Any] = {}
    a, b = real["pixel_sample"], sim["pixel_sample"]
    out["pixel_adu"] = _histogram(a, b, _pixel_edges(np.concatenate([a, b]), config.hist_bins))
    sr, ss = _spot_values(real), _spot_values(sim)
    spot_q = _histogram(sr["spot_q"], ss["spot_q"], edges)  # spots per frame in the profile's |q| bins
    for name, m in (("real", real), ("simulated", sim)):
        spot_q[name]["per_frame"] = spot_q[name]["counts"] / len(m["frames"])
    out["spot_q"] = spot_q
    for key, n, log in (("fwhm", 40, False), ("aspect", 30, False), ("intensity", 40, True),
                        ("intensity_photons", 40, True), ("eta", 20, False)):
        pooled = np.concatenate([sr[key], ss[key]])
        pooled = pooled[np.isfinite(pooled) & ((pooled > 0) if log else True)]
        if pooled.size == 0:
            edges = np.geomspace(1, 10, n + 1) if log else np.linspace(0, 1, n + 1)
        elif log:
            lo, hi = np.percentile(pooled, (0.5, 99.5))
            edges = np.geomspace(max(lo, 1e-3), max(hi, lo * 10, 1e-2), n + 1)
        else:
            lo = 1.0 if key == "aspect" else 0.0
            hi = 1.0 if key == "eta" else float(np.percentile(pooled, 99.5))
            edges = np.linspace(lo, max(hi, lo + 1e-3), n + 1)
        out[key] = _histogram(sr[key], ss[key], edges)
    return out


def _set_summary(m: dict[str, Any]) -> dict[str, Any]:
    s = m["spots"]
    frames = m["frames"]
    return {
        "n_frames": len(frames), "gain": m["gain"].to_dict(),
        "photon_energy_ev": float(np.median([f["photon_energy_ev"] for f in frames])),
        "clen_m": float(np.median([f["clen_m"] for f in frames])),
        "n_spots": int(len(s["intensity"])), "n_fitted": int(s["fitted"].sum()), "n_accepted": int(s["accepted"].sum()),
        "frames": frames, "profile": _pooled_profile(m["profile"]), "profile_per_frame": m["profile"],
        "spots": {k: _quantiles(v) for k, v in _spot_values(m).items()},
    }


def _quantiles(v: np.ndarray) -> dict[str, Any]:
    from peaknet_bench.simcompare.measure import quantiles

    return quantiles(v)


def _assemble(real: dict[str, Any], sim: dict[str, Any], edges: np.ndarray, config: CompareConfig) -> dict[str, Any]:
    pr, ps = _pooled_profile(real["profile"]), _pooled_profile(sim["profile"])
    common = np.isfinite(pr["trimmed_mean"]) & np.isfinite(ps["trimmed_mean"])
    rows = summary_rows(real, sim, common, config)
    centres = 0.5 * (edges[1:] + edges[:-1])
    return {
        "q_edges": edges, "q_centres": centres, "common_bins": common,
        "real": _set_summary(real), "simulated": _set_summary(sim),
        "histograms": _histograms(real, sim, edges, config), "summary": rows,
    }


def notes(result: dict[str, Any]) -> list[str]:
    """What else differs between the sets (setup, gain, how much there is to compare)."""
    r, s = result["real"], result["simulated"]
    out = []
    if abs(math.log(s["clen_m"] / r["clen_m"])) > 0.02:
        out.append(f"detector.clen_m: real {r['clen_m']:.3f} m, sim {s['clen_m']:.3f} m (spot widths in px and the "
                   f"resolution reached scale with it; background profiles are compared in |q|)")
    if abs(math.log(s["photon_energy_ev"] / r["photon_energy_ev"])) > 0.01:
        out.append(f"beam.photon_energy_ev: real {r['photon_energy_ev']:.0f} eV, sim {s['photon_energy_ev']:.0f} eV")
    if r["gain"]["source"].startswith("assumed"):
        out.append(f"the real files carry no gain: photons assume the experiment's {r['gain']['adu_per_photon']:g} "
                   "ADU/photon (give --real-adu-per-photon)")
    for name, x in (("real", r), ("simulated", s)):
        hits = sum(f["n_spots"] >= HIT_MIN_PEAKS for f in x["frames"])
        if hits == 0:
            out.append(f"no {name} frame has >= {HIT_MIN_PEAKS} spots: spot statistics are empty or noise")
        if x["n_fitted"] and x["n_accepted"] < 0.5 * x["n_fitted"]:
            out.append(f"{name}: only {x['n_accepted']}/{x['n_fitted']} spot fits accepted (chi2_red <= "
                       f"{result['config']['fit']['chi2_max']:g}): check the gain (weights assume Poisson photons)")
    return out


# ---------------------------------------------------------------- text and files
def _fmt(x: float) -> str:
    if x is None or not math.isfinite(x):
        return "-"
    if x != 0 and (abs(x) >= 1e4 or abs(x) < 1e-2):
        return f"{x:.2e}"
    return f"{x:.3g}"


def _cell(s: dict[str, Any]) -> str:
    if s["n"] == 0:
        return "-"
    if s["n"] == 1 or s["p25"] == s["p75"]:
        return _fmt(s["median"])
    return f"{_fmt(s['median'])} [{_fmt(s['p25'])}, {_fmt(s['p75'])}]"


def format_summary(result: dict[str, Any]) -> str:
    """The one-screen text: setup of both sets, then the table (median [IQR] per set)."""
    from peaknet_bench.util.output import table

    r, s = result["real"], result["simulated"]

    def setup(name: str, x: dict[str, Any]) -> str:
        g = x["gain"]
        return (f"{name:9s} {x['n_frames']:3d} frames, {x['photon_energy_ev']:.0f} eV, clen {x['clen_m']:.3f} m, "
                f"{_fmt(g['adu_per_photon'])} ADU/photon ({g['source']}); {x['n_spots']} spots, "
                f"{x['n_accepted']}/{x['n_fitted']} fits accepted")

    files, name = result.get("real_files", []), result.get("experiment", {}).get("name", "(frames)")
    head = [f"sim compare: {len(files)} real file(s) vs experiment {name} "
            f"(finder {result['finder']['name']}"
            + (f", threshold {_fmt(result['finder']['params'].get('threshold'))} ADU"
               if "threshold" in result["finder"].get("params", {}) else "") + ")",
            setup("real", r), setup("simulated", s), ""]
    rows = [[row["label"], row["unit"], _cell(row["real"]), _cell(row["simulated"]),
             "-" if row["ratio"] is None else f"{row['ratio']:.2f}", row["verdict"]] for row in result["summary"]]
    text = "\n".join(head) + table(rows, ["quantity", "unit", "real median [IQR]", "sim median [IQR]", "sim/real",
                                          "verdict"])
    if result.get("notes"):
        text += "\n" + "\n".join(f"note: {n}" for n in result["notes"])
    if "outputs" in result:
        text += "\nwrote " + ", ".join(result["outputs"].values())
    return text


def summary_json(result: dict[str, Any]) -> dict[str, Any]:
    """The compact summary `--json` prints: setups, the table rows, notes and output paths."""
    keep = ("n_frames", "gain", "photon_energy_ev", "clen_m", "n_spots", "n_fitted", "n_accepted")
    return {
        "experiment": result.get("experiment"), "real_files": result.get("real_files"), "finder": result["finder"],
        "real": {k: result["real"][k] for k in keep}, "simulated": {k: result["simulated"][k] for k in keep},
        "summary": result["summary"], "notes": result.get("notes", []), "outputs": result.get("outputs"),
        "seconds": result["seconds"],
    }


def _check_output(output: str | os.PathLike) -> Path:
    out = Path(output)
    if out.exists() and not out.is_dir():
        raise InputError(str(out), "-o/--output", "expected a folder (compare.json and compare.png go there), "
                                                  "found a file")
    return out


def write_outputs(result: dict[str, Any], output: str | os.PathLike) -> dict[str, str]:
    """OUTPUT/compare.json (every number) and OUTPUT/compare.png (the figure), atomically."""
    from peaknet_bench.simcompare.plot import plot_comparison
    from peaknet_bench.util.atomic import write_text_atomic
    from peaknet_bench.util.output import to_json

    out = _check_output(output)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": str(out / JSON_NAME), "png": str(out / PNG_NAME)}
    plot_comparison(result, paths["png"])
    write_text_atomic(paths["json"], to_json({**result, "outputs": paths}, indent=1) + "\n")
    return paths
