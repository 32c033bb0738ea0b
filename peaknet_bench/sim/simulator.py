"""The simulator: frames with full ground truth, deterministic per (seed, frame index).

Everything that depends only on the detector and beam (pixel |q|, polarisation, solid
angle, the background pattern, beamstop shadow, gain map, defects) is computed once per
`Simulator`; a frame then costs one multiply for the background, the spots (a few hundred
small windows) and one fused noise pass. The detector's gain map and defects are a
property of the run (drawn from the seed alone); frame i draws everything else from
`np.random.SeedSequence([seed, i])`, so any frame regenerates bit-for-bit on its own.

Found-able rule (SPEC-physics §6): a reflection is *found-able* when its noiseless
"core" (the pixels where its signal is ≥ `label_fraction` × its own peak pixel) carries
at least `min_photons` photons and reaches an integrated signal-to-noise
``S / sqrt(S + N·(b + σ_r²)) ≥ snr_floor`` (S core photons, N core pixels, b the local
background photons per pixel, σ_r the read noise in photons), and its peak pixel is a
good pixel. Label rule: the label mask is True on good pixels where a found-able
reflection's noiseless signal is ≥ `label_fraction` (default ½) × that reflection's peak
pixel — the half-maximum area of each found-able spot.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from peaknet_bench.crystal import Crystal, PredictionConfig, UnitCell, predict_reflections, random_rotation
from peaknet_bench.frame import Frame, PeakList
from peaknet_bench.sim.experiment import Experiment, LogNormal
from peaknet_bench.sim.render import SPOT_FIELDS, Spots, apply_noise, label_spots, render_spots
from peaknet_bench.sim.structure import StructureFactors
from peaknet_bench.util import detmath as dm

_CLASS_GOOD, _CLASS_DEAD, _CLASS_HOT, _CLASS_BAD_ASIC = 0, 1, 2, 3
_DETECTOR_STREAM = 0xDE7EC7  # spawn key of the run-level (detector) random stream
_COMMON_MODE_STREAM = 0xC0330  # per-frame common-mode offsets


@dataclass
class FrameTruth:
    """What the simulator knows about one frame (SPEC-physics §6)."""

    crystals: list[Crystal]
    reflections: PeakList  # fs, ss, panel, hkl, partiality; intensity = photons; max_intensity = peak pixel; snr
    q: np.ndarray  # (n_refl, 3) Å⁻¹ lab-frame scattering vectors
    lattice: np.ndarray  # (n_refl,) index into `crystals`
    foundable: np.ndarray  # (n_refl,) bool (rule: module docstring)
    label_mask: np.ndarray  # (n_ss, n_fs) bool (rule: module docstring)
    seed: int
    index: int
    params: dict[str, Any] = field(default_factory=dict)  # per-frame draws (pulse, background, crystals)

    @property
    def is_hit(self) -> bool:
        return len(self.crystals) > 0

    @property
    def n_foundable(self) -> int:
        return int(np.count_nonzero(self.foundable))

    def foundable_peaks(self) -> PeakList:
        """The found-able reflections as a peak list (the reference for peak-finding metrics)."""
        return self.reflections.subset(self.foundable)


@dataclass
class DetectorModel:
    """Per-experiment precomputation: pixel geometry maps, background pattern, defects."""

    geometry: Any
    q_abs: np.ndarray  # (n_ss, n_fs) |q| Å⁻¹ (0 outside panels)
    background: np.ndarray  # float32 photons per pixel at unit background scale, × transmission
    transmission: np.ndarray  # float32: beamstop shadow, 0 outside panels
    gain_adu: np.ndarray  # float32 ADU per photon per pixel
    pixel_class: np.ndarray  # uint8
    mask: np.ndarray  # bool, True = good
    pol_solid: np.ndarray  # float32 polarisation × relative solid angle per pixel
    adu_per_photon: float
    max_adu: float
    panel_bounds: np.ndarray  # (n_panels, 4) min_fs, max_fs, min_ss, max_ss
    panel_res: np.ndarray  # (n_panels,) pixels per metre


def _pixel_maps(geometry, wavelength_a: float, clen_m: float, polarisation: float):
    """|q|, q, polarisation × relative solid angle, lab xy (m) of every slab pixel."""
    pos = geometry.pixel_positions_m(clen_m)  # (n_ss, n_fs, 3), NaN outside panels
    inside = geometry.panel_map >= 0
    pos = np.where(inside[..., None], pos, np.array([0.0, 0.0, 1.0]))
    dist = dm.norm(pos)
    u = pos / dist[..., None]
    k = 1.0 / wavelength_a
    q = u * k
    q[..., 2] -= k
    q_abs = dm.norm(q)
    # Polarisation in the plane of ε (fraction `polarisation` along x): sin²2θ·cos²φ = u_x²
    # and sin²2θ·sin²φ = u_y² for a unit ray u.
    pol = polarisation * (1.0 - u[..., 0] ** 2) + (1.0 - polarisation) * (1.0 - u[..., 1] ** 2)
    # Solid angle ∝ pixel area × |n·u| / r², relative to a pixel of the first panel facing the beam at clen.
    a = geometry._arrays()
    normal = np.cross(a["fs"], a["ss"])
    normal /= dm.norm(normal, keepdims=True)
    pm = np.maximum(geometry.panel_map, 0)
    cos_inc = np.abs(dm.dot(u, normal[pm]))
    res = a["res"][pm]
    omega = (a["res"][0] / res) ** 2 * cos_inc * clen_m**2 / dist**2
    pol_solid = np.where(inside, pol * omega, 0.0)
    return np.where(inside, q_abs, 0.0), q, pol_solid, pos[..., :2]


def build_detector_model(exp: Experiment, seed: int) -> DetectorModel:
    """Everything per-pixel that stays fixed over a run."""
    geom = exp.geometry()
    spec, bg = exp.detector, exp.background
    q_abs, q, pol_solid, xy = _pixel_maps(geom, exp.wavelength_a, spec.clen_m, exp.beam.polarisation)
    inside = geom.panel_map >= 0
    # Background pattern (photons at unit scale).
    pattern = bg.water_photons * dm.exp(-0.5 * ((q_abs - 1.0 / bg.water_d_a) / bg.water_width) ** 2)
    pattern += bg.diffuse_photons * dm.exp(-0.5 * (q_abs / bg.diffuse_width) ** 2)
    pattern += bg.air_photons * bg.air_q0**2 / (q_abs**2 + bg.air_q0**2)
    if bg.kapton_photons > 0:
        t = math.radians(bg.kapton_angle_deg)
        along = q[..., 0] * math.cos(t) + q[..., 1] * math.sin(t)
        across = -q[..., 0] * math.sin(t) + q[..., 1] * math.cos(t)
        pattern += bg.kapton_photons * dm.exp(-0.5 * (across / bg.kapton_width) ** 2 - np.abs(along) / bg.kapton_decay)
    if bg.kapton_ring_photons > 0:
        pattern += bg.kapton_ring_photons * dm.exp(-0.5 * ((q_abs - 1.0 / 4.9) / 0.02) ** 2)
    pattern *= pol_solid
    # Beamstop: a disc on the beam and its holder arm, in the lab xy plane.
    r_bs = spec.beamstop_radius_mm * 1e-3
    shadow = dm.hypot(xy[..., 0], xy[..., 1]) < r_bs
    if spec.beamstop_arm_width_mm > 0:
        t = math.radians(spec.beamstop_arm_angle_deg)
        along = xy[..., 0] * math.cos(t) + xy[..., 1] * math.sin(t)
        across = -xy[..., 0] * math.sin(t) + xy[..., 1] * math.cos(t)
        shadow |= (along > 0) & (np.abs(across) < 0.5e-3 * spec.beamstop_arm_width_mm)
    shadow &= inside
    transmission = np.where(shadow, spec.beamstop_transmission, 1.0) * inside
    # Run-level draws: gain map and defects.
    rng = np.random.default_rng(np.random.SeedSequence(entropy=seed, spawn_key=(_DETECTOR_STREAM,)))
    adu = np.array([spec.adu_per_photon or p.adu_per_photon or 1.0 for p in geom.panels])
    max_adu = float(spec.max_adu or max((p.max_adu or 0.0) for p in geom.panels) or 65535.0)
    gain = adu[np.maximum(geom.panel_map, 0)] * (1.0 + spec.gain_variation * rng.standard_normal(geom.slab_shape))
    gain = np.where(inside, np.maximum(gain, 0.0), 0.0)
    if spec.edge_gain != 1.0:
        edge = np.zeros(geom.slab_shape, bool)
        for p in geom.panels:
            edge[p.min_ss: p.max_ss + 1, [p.min_fs, p.max_fs]] = True
            edge[[p.min_ss, p.max_ss], p.min_fs: p.max_fs + 1] = True
        gain = np.where(edge, gain * spec.edge_gain, gain)
    pixel_class = np.where(inside, _CLASS_GOOD, _CLASS_DEAD).astype(np.uint8)
    flat_inside = np.flatnonzero(inside)
    n_dead = int(round(spec.dead_fraction * flat_inside.size))
    n_hot = int(round(spec.hot_fraction * flat_inside.size))
    chosen = rng.choice(flat_inside, size=n_dead + n_hot, replace=False)
    pixel_class.reshape(-1)[chosen[:n_dead]] = _CLASS_DEAD
    pixel_class.reshape(-1)[chosen[n_dead:]] = _CLASS_HOT
    panels = geom.panels
    for p_idx in rng.choice(len(panels), size=min(spec.bad_asics, len(panels)), replace=False):
        p = panels[int(p_idx)]
        if len(panels) >= 4:
            pixel_class[p.min_ss : p.max_ss + 1, p.min_fs : p.max_fs + 1] = _CLASS_BAD_ASIC
        else:  # a monolithic detector: one readout block of 1/8 × 1/8 of the panel
            bh, bw = max(p.height // 8, 1), max(p.width // 8, 1)
            s0 = p.min_ss + bh * int(rng.integers(0, 8))
            f0 = p.min_fs + bw * int(rng.integers(0, 8))
            pixel_class[s0 : s0 + bh, f0 : f0 + bw] = _CLASS_BAD_ASIC
    flagged = (pixel_class == _CLASS_GOOD) | ((not spec.hot_masked) & (pixel_class == _CLASS_HOT))
    mask = geom.bad_pixel_mask() & flagged & ~shadow
    a = geom._arrays()
    bounds = np.column_stack([a["min_fs"], a["min_fs"] + a["width"] - 1, a["min_ss"], a["min_ss"] + a["height"] - 1])
    return DetectorModel(
        geometry=geom, q_abs=q_abs, background=(pattern * transmission).astype(np.float32),
        transmission=transmission.astype(np.float32), gain_adu=gain.astype(np.float32), pixel_class=pixel_class,
        mask=mask, pol_solid=pol_solid.astype(np.float32), adu_per_photon=float(np.median(adu)), max_adu=max_adu,
        panel_bounds=bounds.astype(np.int64), panel_res=a["res"].copy(),
    )


def varied_cell(cell: UnitCell, rng: np.random.Generator, sigma: float) -> UnitCell:
    """The target cell with its free lengths scaled by 1 + N(0, σ²) each; lengths the lattice type
    ties (tetragonal/hexagonal a = b, cubic and rhombohedral a = b = c) share one draw, angles stay."""
    lt = cell.lattice_type
    unique = {"a": 0, "b": 1, "c": 2}.get(cell.unique_axis, 2)
    if lt in ("cubic", "rhombohedral"):
        groups = [(0, 1, 2)]
    elif lt in ("tetragonal", "hexagonal"):
        groups = [tuple(i for i in range(3) if i != unique), (unique,)]
    else:
        groups = [(0,), (1,), (2,)]
    params = np.array(cell.parameters, np.float64)
    for group, z in zip(groups, rng.standard_normal(len(groups))):
        params[list(group)] *= 1.0 + sigma * float(z)
    return replace(cell, **dict(zip(("a", "b", "c"), map(float, params[:3]))))


class Simulator:
    """Frames of one experiment. `frame(i)` is deterministic in (seed, i); iterating yields
    frames 0, 1, … (`n_frames` of them, or without end when `n_frames` is None)."""

    def __init__(self, experiment: Experiment, seed: int = 0, n_frames: int | None = None) -> None:
        self.experiment = experiment
        self.seed = int(seed)
        self.n_frames = n_frames
        self.detector = build_detector_model(experiment, self.seed)
        self.cell: UnitCell = experiment.unit_cell()
        from peaknet_bench.crystal.predict import detector_d_min

        self.d_min_a = max(
            detector_d_min(self.detector.geometry, experiment.wavelength_a, experiment.detector.clen_m),
            experiment.crystal.d_min_a or 0.0,
        )
        c = experiment.crystal
        if c.intensities == "pdb":
            self.structure = StructureFactors.from_pdb(experiment.pdb_path(), self.cell, self.d_min_a, b_factor=c.b_factor)
        else:
            self.structure = StructureFactors.wilson(self.cell, c.b_factor, seed=self.seed)

    @property
    def geometry(self):
        return self.detector.geometry

    def __iter__(self) -> Iterator[Frame]:
        i = 0
        while self.n_frames is None or i < self.n_frames:
            yield self.frame(i)
            i += 1

    # ------------------------------------------------------------------ frames
    def _draw_crystal(self, rng: np.random.Generator, pulse: float) -> tuple[Crystal, dict[str, float]]:
        pop = self.experiment.crystals
        rotation = random_rotation(rng)
        size = float(pop.size_um.sample(rng))
        mosaic = float(pop.profile_radius.sample(rng))
        fluence = float(pop.fluence.sample(rng))
        cell = self.cell
        if pop.cell_sigma > 0:  # drawn last, and only then: runs without it keep their random stream
            cell = varied_cell(self.cell, rng, pop.cell_sigma)
        aspect = None
        if pop.spot_aspect != LogNormal(1.0):  # likewise after everything else, and only then
            aspect = float(pop.spot_aspect.sample(rng))
        # A* of the crystal's own cell; crystal.cell stays the target (symmetry, absences)
        crystal = Crystal(astar=Crystal.from_cell(cell, rotation).astar, cell=self.cell)
        # Finite domain size adds ~1/size to the reciprocal-space extent of each lattice point.
        profile_radius = math.hypot(mosaic, 1.0 / (size * 1e4))
        scale = pop.spot_photons * pulse * fluence * (size / pop.size_um.median) ** 3
        info = {"size_um": size, "profile_radius": profile_radius, "fluence": fluence, "scale": scale}
        if aspect is not None:
            info["spot_aspect"] = aspect
        return crystal, info

    def _reflections(self, crystal: Crystal, info: dict[str, float]) -> tuple[PeakList, np.ndarray, Spots]:
        exp = self.experiment
        det = self.detector
        lam = exp.wavelength_a
        config = PredictionConfig(profile_radius=info["profile_radius"], bandwidth=exp.beam.bandwidth, d_min_a=self.d_min_a)
        refl = predict_reflections(crystal, det.geometry, lam, clen_m=exp.detector.clen_m, config=config)
        q = crystal.q_of(refl.hkl) if len(refl) else np.zeros((0, 3))
        ray = q + np.array([0.0, 0.0, 1.0 / lam])
        cos2t = ray[:, 2] / dm.norm(ray)
        ss_i = np.clip(np.rint(refl.ss).astype(np.int64), 0, det.geometry.slab_shape[0] - 1)
        fs_i = np.clip(np.rint(refl.fs).astype(np.int64), 0, det.geometry.slab_shape[1] - 1)
        photons = info["scale"] * self.structure.intensity(refl.hkl) * refl.partiality * det.pol_solid[ss_i, fs_i]
        # Spot width: angular spread (lattice-point extent R·λ and beam divergence) at the
        # pixel's distance, plus the detector's point spread.
        dist_m = exp.detector.clen_m / np.maximum(cos2t, 1e-3)
        sigma_ang = math.hypot(info["profile_radius"] * lam, exp.beam.divergence_urad * 1e-6)
        res = det.panel_res[refl.panel]
        sigma_px = dm.hypot(dist_m * sigma_ang * res, exp.detector.psf_px)
        pop = exp.crystals
        gamma_px = pop.gamma_ratio * sigma_px * math.sqrt(2.0 * math.log(2.0))
        refl.intensity = photons
        spots = Spots(refl.fs, refl.ss, photons, sigma_px, gamma_px, np.full(len(refl), pop.eta),
                      det.panel_bounds[refl.panel], np.full(len(refl), info.get("spot_aspect", 1.0)))
        return refl, q, spots

    def frame(self, index: int) -> Frame:
        """Frame `index`: noisy ADU slab, good-pixel mask and a FrameTruth."""
        photons, truth, noise_key = self._simulate(index)
        det = self.detector
        exp = self.experiment
        data = apply_noise(photons, det.gain_adu, det.pixel_class, exp.detector.read_noise_adu, 0.2 * det.max_adu,
                           det.max_adu, noise_key, exp.detector.adc_step_adu)
        if exp.detector.common_mode_adu > 0:
            self._add_common_mode(data, index)
        return Frame(
            data=data, mask=det.mask.copy(), geometry=det.geometry, photon_energy_ev=exp.beam.photon_energy_ev,
            clen_m=exp.detector.clen_m, event=f"//{int(index)}", truth=truth,
            meta={"experiment": exp.name, "seed": self.seed, "index": int(index)},
        )

    def _add_common_mode(self, data: np.ndarray, index: int) -> None:
        """Per-panel offsets of this frame (their own random stream, so runs without common
        mode keep theirs), whole ADC steps, on good readout pixels only."""
        spec = self.experiment.detector
        rng = np.random.default_rng(np.random.SeedSequence([self.seed, int(index), _COMMON_MODE_STREAM]))
        offsets = spec.common_mode_adu * rng.standard_normal(self.geometry.n_panels)
        if spec.adc_step_adu:
            offsets = np.rint(offsets / spec.adc_step_adu) * spec.adc_step_adu
        pm = self.geometry.panel_map
        live = (pm >= 0) & (self.detector.pixel_class != _CLASS_DEAD)
        data[live] += offsets[pm[live]].astype(np.float32)

    def expected_photons(self, index: int) -> tuple[np.ndarray, FrameTruth]:
        """The noiseless expected photons per pixel of frame `index` (float32 slab) and its truth."""
        photons, truth, _ = self._simulate(index)
        return photons, truth

    def _simulate(self, index: int) -> tuple[np.ndarray, FrameTruth, int]:
        exp = self.experiment
        det = self.detector
        rng = np.random.default_rng(np.random.SeedSequence([self.seed, int(index)]))
        noise_key = int(rng.integers(0, 2**63))
        pulse = math.exp(exp.beam.pulse_energy_jitter * float(rng.standard_normal()))
        bg_scale = pulse * math.exp(exp.background.jitter_sigma_log * float(rng.standard_normal()))
        n_crystals = 0
        if rng.random() < exp.run.hit_fraction:
            n_crystals = 2 if rng.random() < exp.run.multi_lattice_fraction else 1
        crystals, infos, lists, qs, spot_sets = [], [], [], [], []
        for _ in range(n_crystals):
            crystal, info = self._draw_crystal(rng, pulse)
            refl, q, spots = self._reflections(crystal, info)
            crystals.append(crystal)
            infos.append(info)
            lists.append(refl)
            qs.append(q)
            spot_sets.append(spots)
        reflections = PeakList.concatenate(lists) if lists else _empty_reflections()
        lattice = np.concatenate([np.full(len(r), i, np.int32) for i, r in enumerate(lists)]) if lists else np.zeros(0, np.int32)
        q = np.concatenate(qs) if qs else np.zeros((0, 3))
        spots = Spots(*[np.concatenate([getattr(s, f) for s in spot_sets]) if spot_sets else np.zeros((0, 4) if f == "panel_bounds" else 0)
                        for f in SPOT_FIELDS])
        # Render background and spots (shadowed by the beamstop); the spots' noiseless
        # statistics and the local background then decide which reflections are found-able.
        truth_spec = exp.truth
        photons = det.background * np.float32(bg_scale)
        stats = render_spots(spots, photons, det.transmission, label_fraction=truth_spec.label_fraction)
        ss_i = np.rint(reflections.ss).astype(np.int64)
        fs_i = np.rint(reflections.fs).astype(np.int64)
        b = det.background[ss_i, fs_i].astype(np.float64) * bg_scale
        read_ph = exp.detector.read_noise_adu / det.adu_per_photon
        noise = np.sqrt(stats.core_photons + stats.core_pixels * (b + read_ph**2))
        snr = np.divide(stats.core_photons, noise, out=np.zeros(len(reflections)), where=noise > 0)
        foundable = (snr >= truth_spec.snr_floor) & (stats.core_photons >= truth_spec.min_photons) & det.mask[ss_i, fs_i]
        reflections.snr = snr
        reflections.max_intensity = stats.peak
        label = np.zeros(det.geometry.slab_shape, dtype=bool)
        label_spots(_subset_spots(spots, foundable), label, truth_spec.label_fraction)
        label &= det.mask
        truth = FrameTruth(
            crystals=crystals, reflections=reflections, q=q, lattice=lattice, foundable=foundable,
            label_mask=label, seed=self.seed, index=int(index),
            params={"pulse_energy": pulse, "background_scale": bg_scale, "crystals": infos},
        )
        return photons, truth, noise_key


def _subset_spots(spots: Spots, keep: np.ndarray) -> Spots:
    return Spots(*[getattr(spots, f)[keep] for f in SPOT_FIELDS])


def _empty_reflections() -> PeakList:
    z = np.zeros(0)
    return PeakList(fs=z, ss=z, panel=np.zeros(0, np.int32), intensity=z, snr=z, max_intensity=z,
                    hkl=np.zeros((0, 3), np.int32), partiality=z)
