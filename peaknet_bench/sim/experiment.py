"""A simulated serial-crystallography experiment: dataclasses loadable from YAML.

An experiment describes a facility-like run: the detector (preset or CrystFEL `.geom`)
and camera length, the beam, the crystal form (unit cell + space group, or an atomic
model), the population of crystals (size, profile radius, fluence), how often the beam
hits a crystal, the background and the detector's defects. Named experiments ship in
`peaknet_bench/sim/experiments/*.yaml`; a user's own YAML file works the same way.
Relative file names in a YAML file (`.geom`, `.pdb`) are resolved against its folder.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from peaknet_bench.errors import InputError
from peaknet_bench.util import detmath as dm

EXPERIMENTS_DIR = Path(__file__).parent / "experiments"


class _Check:
    """Collects the first validation failure with the YAML location of the field."""

    def __init__(self, source: str | None, prefix: str) -> None:
        self.source = source
        self.prefix = prefix

    def __call__(self, ok: bool, name: str, expected: str, value: Any = None) -> None:
        if not ok:
            got = "" if value is None else f", got {value!r}"
            raise InputError(self.source, f"{self.prefix}{name}", f"expected {expected}{got}")

    def positive(self, obj: Any, *names: str) -> None:
        for n in names:
            v = getattr(obj, n)
            self(v is not None and math.isfinite(v) and v > 0, n, "a positive number", v)

    def non_negative(self, obj: Any, *names: str) -> None:
        for n in names:
            v = getattr(obj, n)
            self(v is not None and math.isfinite(v) and v >= 0, n, "a number ≥ 0", v)

    def fraction(self, obj: Any, *names: str) -> None:
        for n in names:
            v = getattr(obj, n)
            self(v is not None and 0.0 <= v <= 1.0, n, "a fraction in [0, 1]", v)


@dataclass
class LogNormal:
    """A positive quantity drawn log-normally: `median` · exp(N(0, sigma_log²))."""

    median: float
    sigma_log: float = 0.0

    def validate(self, check: _Check) -> None:
        check.positive(self, "median")
        check.non_negative(self, "sigma_log")

    def sample(self, rng: np.random.Generator, size: int | None = None) -> Any:
        return self.median * dm.exp(self.sigma_log * rng.standard_normal(size))


@dataclass
class DetectorSpec:
    """Detector, camera length, noise model and defects."""

    geometry: str  # preset name or .geom path
    clen_m: float
    adu_per_photon: float | None = None  # None: the geometry's per-panel value (else 1)
    max_adu: float | None = None  # None: the geometry's value (else 65535)
    read_noise_adu: float = 1.0  # Gaussian read noise, ADU (σ)
    gain_variation: float = 0.02  # per-pixel relative gain σ (1–3 % is typical)
    psf_px: float = 0.4  # charge-sharing / point-spread σ in pixels, added to every spot
    dead_fraction: float = 1e-4
    hot_fraction: float = 2e-5
    bad_asics: int = 1  # whole ASICs (panels) returning garbage
    beamstop_radius_mm: float = 1.5
    beamstop_arm_width_mm: float = 0.8  # 0: no holder arm
    beamstop_arm_angle_deg: float = 200.0  # direction of the arm in the lab xy plane
    beamstop_transmission: float = 0.005
    # The readout's quantum (ADU): each pixel is rounded to a whole number of steps, as the
    # ADC (or a photon-converting pipeline) delivers integers. A power of two, so that
    # integer × step is exact in float32 and stores keep the integers; None: float readout.
    adc_step_adu: float | None = None
    # Integrating detectors: a per-panel offset drawn per frame (σ, ADU), the residual
    # common mode after pedestal subtraction; rounded to the ADC step.
    common_mode_adu: float = 0.0
    # Gain of each panel's outermost pixel rows and columns relative to the rest (CSPAD's
    # wide pixels between the two ASICs of a sensor collect ~2.5× the signal).
    edge_gain: float = 1.0
    # Whether the hot pixels are in the detector's bad-pixel mask; real masks often miss
    # some (a hot pixel inside the trusted range), which a peak finder must survive.
    hot_masked: bool = True

    def validate(self, check: _Check) -> None:
        check(isinstance(self.geometry, str) and bool(self.geometry), "geometry", "a preset name or .geom path")
        check.non_negative(self, "common_mode_adu")
        check.positive(self, "edge_gain")
        if self.adc_step_adu is not None:
            step = float(self.adc_step_adu)
            check(step > 0 and math.frexp(step)[0] == 0.5, "adc_step_adu", "a power of two (1, 0.5, 0.03125, ...)",
                  self.adc_step_adu)
        check.positive(self, "clen_m")
        if self.adu_per_photon is not None:
            check.positive(self, "adu_per_photon")
        if self.max_adu is not None:
            check.positive(self, "max_adu")
        check.non_negative(self, "read_noise_adu", "psf_px", "beamstop_radius_mm", "beamstop_arm_width_mm")
        check(0 <= self.gain_variation < 0.5, "gain_variation", "a relative σ in [0, 0.5)", self.gain_variation)
        check.fraction(self, "dead_fraction", "hot_fraction", "beamstop_transmission")
        check(self.bad_asics >= 0, "bad_asics", "an integer ≥ 0", self.bad_asics)


@dataclass
class BeamSpec:
    """X-ray pulses: energy, bandwidth, polarisation, divergence and pulse-energy jitter."""

    photon_energy_ev: float
    bandwidth: float = 1e-3  # Δλ/λ (SASE ≈ 1e-3)
    polarisation: float = 1.0  # fraction of horizontal linear polarisation (XFEL: ~1)
    divergence_urad: float = 20.0  # σ of the beam divergence
    pulse_energy_jitter: float = 0.1  # σ of log pulse energy (scales spots and background)

    def validate(self, check: _Check) -> None:
        check(1000.0 <= self.photon_energy_ev <= 100000.0, "photon_energy_ev", "a photon energy in eV (1–100 keV)",
              self.photon_energy_ev)
        check(0 <= self.bandwidth < 0.1, "bandwidth", "Δλ/λ in [0, 0.1)", self.bandwidth)
        check.fraction(self, "polarisation")
        check.non_negative(self, "divergence_urad", "pulse_energy_jitter")


@dataclass
class CrystalSpec:
    """The crystal form: a unit cell + space group, or an atomic model (PDB, CRYST1 gives the cell)."""

    pdb: str | None = None
    cell: list[float] | None = None  # a, b, c (Å), alpha, beta, gamma (degrees)
    space_group: str | None = None  # Hermann–Mauguin, e.g. "P 21 21 21"
    intensities: str = "wilson"  # "pdb" (|F|² from the model) or "wilson"
    b_factor: float = 20.0  # Wilson B (Å²); for "pdb", an extra overall B on top of the model's
    d_min_a: float | None = None  # resolution limit (Å); None = the detector edge

    def validate(self, check: _Check) -> None:
        check((self.pdb is None) != (self.cell is None), "cell", "exactly one of 'cell' or 'pdb'")
        check(self.intensities in ("pdb", "wilson"), "intensities", "'pdb' or 'wilson'", self.intensities)
        check(self.intensities != "pdb" or self.pdb is not None, "intensities", "a 'pdb' model for intensities: pdb")
        if self.cell is not None:
            check(isinstance(self.cell, list) and len(self.cell) == 6, "cell", "six numbers [a, b, c, alpha, beta, gamma]",
                  self.cell)
        check.non_negative(self, "b_factor")
        if self.d_min_a is not None:
            check.positive(self, "d_min_a")


@dataclass
class CrystalPopulation:
    """How crystals differ from shot to shot: size, profile radius, fluence, spot shape."""

    spot_photons: float  # mean photons of a full 3.5–4.5 Å reflection (median crystal, median fluence)
    size_um: LogNormal = field(default_factory=lambda: LogNormal(5.0, 0.3))
    profile_radius: LogNormal = field(default_factory=lambda: LogNormal(0.0008, 0.3))  # Å⁻¹ (mosaicity)
    fluence: LogNormal = field(default_factory=lambda: LogNormal(1.0, 0.8))  # where the crystal sat in the beam
    eta: float = 0.3  # Lorentzian fraction of the pseudo-Voigt spot
    gamma_ratio: float = 1.0  # Lorentzian HWHM / Gaussian HWHM
    # Non-isomorphism: each crystal's free cell lengths (tied ones together, so the lattice
    # symmetry holds) are the target's × (1 + N(0, cell_sigma²)); the actual cell is in the truth.
    cell_sigma: float = 0.0
    # Spot elongation along the slab's slow-scan axis (width_ss / width_fs, area kept), drawn
    # per crystal: real spots are often streaks (bandwidth, mosaic anisotropy, a tilted
    # sensor) rather than round; a spread here randomises the shapes a model learns.
    spot_aspect: LogNormal = field(default_factory=lambda: LogNormal(1.0, 0.0))

    def validate(self, check: _Check) -> None:
        check.positive(self, "spot_photons", "gamma_ratio")
        check.fraction(self, "eta")
        check.non_negative(self, "cell_sigma")
        check(self.cell_sigma < 0.1, "cell_sigma", "a relative spread below 0.1", self.cell_sigma)


@dataclass
class RunSpec:
    """The run: how many frames, and how often the beam meets one or two crystals."""

    n_frames: int = 1000
    hit_fraction: float = 0.5
    multi_lattice_fraction: float = 0.1  # of hits

    def validate(self, check: _Check) -> None:
        check(self.n_frames >= 1, "n_frames", "an integer ≥ 1", self.n_frames)
        check.fraction(self, "hit_fraction", "multi_lattice_fraction")


@dataclass
class BackgroundSpec:
    """Smooth background, in photons per pixel at the detector's central-pixel solid angle."""

    water_photons: float = 2.0  # peak of the water ring
    water_d_a: float = 3.25  # ring centre (Å); liquid water: ~3.0–3.7 Å
    water_width: float = 0.025  # ring σ in |q| (Å⁻¹)
    diffuse_photons: float = 0.5  # protein/solvent diffuse scatter, Gaussian fall-off in |q|
    diffuse_width: float = 0.35  # σ in |q| (Å⁻¹)
    air_photons: float = 0.3  # air scatter: q0²/(q² + q0²), rises toward the beam
    air_q0: float = 0.02  # Å⁻¹
    kapton_photons: float = 0.0  # kapton-like streak through the beam centre (0: none)
    kapton_angle_deg: float = 10.0  # direction of the streak in the lab xy plane
    kapton_width: float = 0.004  # streak σ across, Å⁻¹
    kapton_decay: float = 0.15  # fall-off along the streak, Å⁻¹
    kapton_ring_photons: float = 0.0  # kapton's amorphous halo (d ≈ 4.9 Å)
    jitter_sigma_log: float = 0.15  # shot-to-shot jet thickness variation

    def validate(self, check: _Check) -> None:
        check.non_negative(self, "water_photons", "diffuse_photons", "air_photons", "kapton_photons",
                           "kapton_ring_photons", "jitter_sigma_log")
        check.positive(self, "water_d_a", "water_width", "diffuse_width", "air_q0", "kapton_width", "kapton_decay")


@dataclass
class TruthSpec:
    """Ground-truth rules (see docs/simulator.md)."""

    snr_floor: float = 5.0  # foundable: integrated SNR ≥ this (rule in FrameTruth)
    min_photons: float = 10.0  # foundable: and at least this many photons
    label_fraction: float = 0.5  # label pixels: signal ≥ this × the spot's peak pixel

    def validate(self, check: _Check) -> None:
        check.positive(self, "snr_floor")
        check.non_negative(self, "min_photons")
        check(0 < self.label_fraction < 1, "label_fraction", "a fraction in (0, 1)", self.label_fraction)


_LATER_FIELDS = (("crystals", "cell_sigma", 0.0), ("crystals", "spot_aspect", {"median": 1.0, "sigma_log": 0.0}),
                 ("detector", "common_mode_adu", 0.0),
                 ("detector", "edge_gain", 1.0), ("detector", "hot_masked", True))


@dataclass
class Experiment:
    """One simulated experiment (see the module docstring)."""

    name: str
    detector: DetectorSpec
    beam: BeamSpec
    crystal: CrystalSpec
    crystals: CrystalPopulation
    description: str = ""
    run: RunSpec = field(default_factory=RunSpec)
    background: BackgroundSpec = field(default_factory=BackgroundSpec)
    truth: TruthSpec = field(default_factory=TruthSpec)
    source: str | None = field(default=None, compare=False)  # the YAML file, for messages and relative paths

    # ----------------------------------------------------------------- files
    def _resolve(self, name: str) -> Path:
        path = Path(name)
        if not path.is_absolute() and self.source is not None:
            path = Path(self.source).parent / path
        return path

    def pdb_path(self) -> Path | None:
        return None if self.crystal.pdb is None else self._resolve(self.crystal.pdb)

    def geometry(self):
        """The detector geometry at this experiment's camera length and photon energy."""
        from peaknet_bench.geometry import PRESETS, load_geometry, preset

        spec = self.detector
        if spec.geometry in PRESETS:
            geom = preset(spec.geometry, clen_m=spec.clen_m, photon_energy_ev=self.beam.photon_energy_ev)
        else:
            path = self._resolve(spec.geometry)
            if not path.is_file():
                raise InputError(self.source, "detector.geometry",
                                 f"unknown detector {spec.geometry!r}: expected one of {sorted(PRESETS)} or a .geom file")
            geom = dataclasses.replace(load_geometry(path), clen_m=spec.clen_m,
                                       photon_energy_ev=self.beam.photon_energy_ev)
        # The run's .geom must describe the data as simulated: carry the ADU settings over.
        for panel in geom.panels:
            if spec.adu_per_photon is not None:
                panel.adu_per_photon = spec.adu_per_photon
            if spec.max_adu is not None:
                panel.max_adu = spec.max_adu
        return geom

    def unit_cell(self):
        """The crystal form's UnitCell (from `cell` + `space_group`, or the PDB's CRYST1)."""
        from peaknet_bench.crystal import UnitCell, cell_from_pdb, lattice_from_space_group

        if self.crystal.pdb is not None:
            path = self.pdb_path()
            if not path.is_file():
                raise InputError(self.source, "crystal.pdb", f"no such PDB file: {path}")
            return cell_from_pdb(path)
        sg = self.crystal.space_group
        try:
            kw = {}
            if sg is not None:
                lattice_type, centering, unique_axis = lattice_from_space_group(sg)
                kw = dict(lattice_type=lattice_type, centering=centering, unique_axis=unique_axis, space_group=sg)
            cell = UnitCell(*[float(x) for x in self.crystal.cell], **kw)
            if sg is not None:
                cell.check_lattice(self.source)
        except InputError as exc:
            raise InputError(self.source, f"crystal.{exc.where or 'cell'}", exc.message) from None
        except (TypeError, ValueError):
            raise InputError(self.source, "crystal.cell", "expected six numbers [a, b, c, alpha, beta, gamma]") from None
        return cell

    @property
    def wavelength_a(self) -> float:
        from peaknet_bench.frame import wavelength_a

        return wavelength_a(self.beam.photon_energy_ev)

    def validate(self) -> None:
        """Field checks, then the physics: the cell is real and the detector can see reflections."""
        for name in ("detector", "beam", "crystal", "crystals", "run", "background", "truth"):
            getattr(self, name).validate(_Check(self.source, f"{name}."))
        for name in ("size_um", "profile_radius", "fluence", "spot_aspect"):
            getattr(self.crystals, name).validate(_Check(self.source, f"crystals.{name}."))
        cell = self.unit_cell()
        geom = self.geometry()
        lam = self.wavelength_a
        from peaknet_bench.crystal.predict import detector_d_min

        d_edge = detector_d_min(geom, lam, self.detector.clen_m)
        # Lowest-angle pixel: the largest d the detector records.
        xy = geom.lab_pixels_xy()
        res = np.array([p.res for p in geom.panels])[np.maximum(geom.panel_map, 0)]
        r_m = dm.hypot(xy[..., 0], xy[..., 1]) / res
        r_min = float(np.nanmin(r_m[geom.panel_map >= 0]))
        two_theta_min = math.atan2(r_min, self.detector.clen_m)
        d_max_seen = lam / (2.0 * math.sin(two_theta_min / 2.0)) if two_theta_min > 0 else math.inf
        # The largest lattice spacing is 1/|shortest reciprocal vector| (bounded by the axes' d-spacings).
        d_largest = float(np.max(1.0 / dm.norm(cell.reciprocal_basis())))
        d_limit = max(d_edge, self.crystal.d_min_a or 0.0)
        if d_limit >= d_largest or d_limit >= d_max_seen:
            raise InputError(
                self.source, "detector",
                f"the detector sees no reflections: at {self.beam.photon_energy_ev:.0f} eV and clen "
                f"{self.detector.clen_m} m it covers d = {d_max_seen:.3g}–{d_edge:.3g} Å, but the cell's "
                f"largest spacing is {d_largest:.3g} Å (limit {d_limit:.3g} Å)",
            )

    # ----------------------------------------------------------------- I/O
    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out.pop("source")
        # Fields added after datasets were published are left out at their defaults, so the
        # YAML (and its sha256 in published manifests) of an experiment without them stays as it was.
        for section, key, default in _LATER_FIELDS:
            if out[section][key] == default:
                del out[section][key]
        return out

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)


# ---------------------------------------------------------------- building
def _convert(tp: Any, value: Any, source: str | None, where: str) -> Any:
    """Coerce a YAML value to a field type (dataclass, float, int, str, bool, list, Optional)."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None:
            return None
        return _convert(args[0], value, source, where)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise InputError(source, where, f"expected a mapping of {tp.__name__} fields, got {value!r}")
        return _build(tp, value, source, where + ".")
    if origin is list:
        if not isinstance(value, (list, tuple)):
            raise InputError(source, where, f"expected a list, got {value!r}")
        (item,) = typing.get_args(tp)
        return [_convert(item, v, source, f"{where}[{i}]") for i, v in enumerate(value)]
    if tp is bool:
        if not isinstance(value, bool):
            raise InputError(source, where, f"expected true or false, got {value!r}")
        return value
    if tp in (int, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InputError(source, where, f"expected a number, got {value!r}")
        if tp is int and float(value) != int(value):
            raise InputError(source, where, f"expected an integer, got {value!r}")
        return tp(value)
    if tp is str:
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise InputError(source, where, f"expected text, got {value!r}")
        return str(value)
    return value


def _build(cls: type, data: dict[str, Any], source: str | None, prefix: str = "") -> Any:
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls) if f.name != "source"}
    unknown = sorted(set(data) - names)
    if unknown:
        raise InputError(source, f"{prefix}{unknown[0]}", f"unknown field; expected one of {sorted(names)}")
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name == "source":
            continue
        if f.name not in data:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise InputError(source, f"{prefix}{f.name}", "required field is missing")
            continue
        kwargs[f.name] = _convert(hints[f.name], data[f.name], source, f"{prefix}{f.name}")
    return cls(**kwargs)


def experiment_from_dict(data: dict[str, Any], source: str | None = None, validate: bool = True) -> Experiment:
    """Build (and, by default, fully validate) an Experiment from a parsed YAML mapping."""
    if not isinstance(data, dict):
        raise InputError(source, None, "expected a YAML mapping with the experiment's sections")
    exp = _build(Experiment, data, source)
    exp.source = source
    if validate:
        exp.validate()
    return exp


def list_experiments() -> list[str]:
    """Names of the experiments shipped with the package."""
    return sorted(p.stem for p in EXPERIMENTS_DIR.glob("*.yaml"))


def load_experiment(name_or_path: str | Path, validate: bool = True) -> Experiment:
    """A named experiment (see `list_experiments`) or a YAML file. `validate=False` skips the
    physics checks that need the detector's pixel maps (field types are always checked)."""
    text = str(name_or_path)
    path = EXPERIMENTS_DIR / f"{text}.yaml"
    if not path.is_file():
        path = Path(text)
        if not path.is_file():
            raise InputError(text, None, f"no such experiment; expected one of {list_experiments()} or a YAML file")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise InputError(str(path), None, f"not valid YAML: {exc}") from None
    return experiment_from_dict(data, str(path), validate)
