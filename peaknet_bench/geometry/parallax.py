"""Parallax of thick sensors: where a ray is *recorded* versus where it meets the sensor surface.

An X-ray entering a sensor of thickness t at angle θ to the normal is absorbed at a mean
depth; its charge is recorded displaced along the in-plane direction of the ray by

    o = 1/μ − (t/cosθ + 1/μ)·exp(−μ t/cosθ)

(the mean path length inside the sensor, the model DIALS uses for Pilatus/Eiger). On a 450 µm
Si Pilatus at 12.8 keV this is up to ~0.7 px at the detector corners. CrystFEL does not model
it; peak positions and predictions compared with DIALS differ by this much without it.

μ comes from NIST XCOM total attenuation (coherent included) of the sensor material,
interpolated log-log; Si is tabulated (CdTe sensors: pass `mu_per_m`).
"""

from __future__ import annotations

import numpy as np

from peaknet_bench.errors import InputError

# NIST XCOM mass attenuation coefficient of Si (cm^2/g, total with coherent) at photon energies (keV).
_SI_KEV = np.array([2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0, 80.0, 100.0])
_SI_MU_RHO = np.array([2777.0, 978.4, 452.9, 245.0, 147.0, 64.68, 33.89, 10.34, 4.464, 1.436, 0.7012, 0.4385,
                       0.3207, 0.2228, 0.1835])
_SI_DENSITY_G_CM3 = 2.33


def attenuation_per_m(photon_energy_ev: float, material: str = "Si") -> float:
    """Linear attenuation coefficient μ (1/m) of the sensor material at this photon energy."""
    if material.lower() not in ("si", "silicon"):
        raise InputError(None, "sensor material", f"{material!r}: only Si is tabulated; pass mu_per_m")
    kev = photon_energy_ev / 1000.0
    if not _SI_KEV[0] <= kev <= _SI_KEV[-1]:
        raise InputError(None, "photon energy", f"{photon_energy_ev} eV is outside the Si table (2-100 keV)")
    mu_rho = np.exp(np.interp(np.log(kev), np.log(_SI_KEV), np.log(_SI_MU_RHO)))
    return float(mu_rho * _SI_DENSITY_G_CM3 * 100.0)  # 1/cm -> 1/m


def _unit_axes(geometry, panel: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    a = geometry._arrays()
    fs = a["fs"][panel]
    ss = a["ss"][panel]
    fs_u = fs / np.linalg.norm(fs, axis=-1, keepdims=True)
    ss_u = ss / np.linalg.norm(ss, axis=-1, keepdims=True)
    n = np.cross(fs_u, ss_u)
    return fs_u, ss_u, n / np.linalg.norm(n, axis=-1, keepdims=True)


def parallax_shift_px(geometry, fs: np.ndarray, ss: np.ndarray, panel: np.ndarray, *, thickness_m: float,
                      mu_per_m: float, clen_m: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(Δfs, Δss) in pixels from where a ray meets the surface (slab fs, ss) to where it is recorded."""
    panel = np.asarray(panel, np.int64)
    r = geometry.lab_position_m(fs, ss, panel, clen_m)
    s1 = r / np.linalg.norm(r, axis=-1, keepdims=True)
    fs_u, ss_u, n = _unit_axes(geometry, panel)
    cos_t = np.abs(np.einsum("...k,...k->...", s1, n))
    t = thickness_m / cos_t
    o = 1.0 / mu_per_m - (t + 1.0 / mu_per_m) * np.exp(-mu_per_m * t)  # metres
    res = geometry._arrays()["res"][panel]
    return (o * np.einsum("...k,...k->...", s1, fs_u) * res, o * np.einsum("...k,...k->...", s1, ss_u) * res)


def add_parallax(geometry, fs, ss, panel, **kw) -> tuple[np.ndarray, np.ndarray]:
    """Recorded positions of rays meeting the surface at (fs, ss)."""
    dfs, dss = parallax_shift_px(geometry, fs, ss, panel, **kw)
    return np.asarray(fs) + dfs, np.asarray(ss) + dss


def remove_parallax(geometry, fs, ss, panel, iterations: int = 6, **kw) -> tuple[np.ndarray, np.ndarray]:
    """Surface positions of rays recorded at (fs, ss) (fixed-point inversion; the shift varies by
    < 1e-4 px per px, so a few iterations reach 1e-9 px)."""
    fs = np.asarray(fs, np.float64)
    ss = np.asarray(ss, np.float64)
    u, v = fs.copy(), ss.copy()
    for _ in range(iterations):
        dfs, dss = parallax_shift_px(geometry, u, v, panel, **kw)
        u, v = fs - dfs, ss - dss
    return u, v
