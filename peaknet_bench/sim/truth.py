"""The ground-truth sidecar of a simulated run: `<run>.truth.h5` (HDF5, written atomically).

Layout (n frames, m crystals, k reflections, all rows in frame order)::

    /                      attrs: format = "peaknet-bench-sim-truth", version, experiment_name,
                           experiment (the full YAML), seed, slab_shape, photon_energy_ev,
                           clen_m, foundable_rule, label_rule
    /frames/index          (n,) int64   frame index i (CXI event //i)
    /frames/is_hit         (n,) bool
    /frames/n_crystals     (n,) int32
    /frames/n_reflections  (n,) int32
    /frames/n_foundable    (n,) int32
    /frames/pulse_energy   (n,) float64 relative pulse energy
    /frames/background_scale (n,) float64
    /frames/crystal_offset (n+1,) int64  crystals of frame j: rows crystal_offset[j]:crystal_offset[j+1]
    /frames/reflection_offset (n+1,) int64
    /frames/label_offset   (n+1,) int64
    /crystals/astar        (m, 3, 3)  rows a*, b*, c* in the lab frame (Å⁻¹)
    /crystals/cell         (m, 6)     a, b, c (Å), α, β, γ (°)
    /crystals/size_um, profile_radius, fluence, scale   (m,)
    /reflections/lattice   (k,) int32 crystal index within its frame
    /reflections/hkl       (k, 3) int32
    /reflections/q         (k, 3) Å⁻¹
    /reflections/panel, fs, ss   slab coordinates (pixel centre at integers)
    /reflections/partiality, photons (integrated, noiseless), peak_photons, snr, foundable
    /label/pixels          (total,) int64  flat slab indices (ss·n_fs + fs) of label pixels

The label mask is stored sparsely (a few hundred pixels per hit instead of megapixels).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from peaknet_bench.errors import InputError
from peaknet_bench.frame import PeakList
from peaknet_bench.util.atomic import atomic_path

FORMAT = "peaknet-bench-sim-truth"
VERSION = 1


def truth_path_for(cxi_path: str | os.PathLike) -> Path:
    """`run.cxi` -> `run.truth.h5`."""
    p = Path(cxi_path)
    return p.with_name(p.stem + ".truth.h5")


@dataclass
class TruthWriter:
    """Collects FrameTruth objects and writes the sidecar in one atomic step on `close`."""

    path: Path
    attrs: dict
    slab_shape: tuple[int, int]
    _rows: dict[str, list] = field(default_factory=dict)

    def add(self, truth) -> None:
        r = self._rows
        refl = truth.reflections
        params = truth.params
        infos = params.get("crystals", [])

        def put(key: str, value) -> None:
            r.setdefault(key, []).append(value)

        put("f_index", truth.index)
        put("f_is_hit", truth.is_hit)
        put("f_n_crystals", len(truth.crystals))
        put("f_n_reflections", len(refl))
        put("f_n_foundable", truth.n_foundable)
        put("f_pulse_energy", params.get("pulse_energy", np.nan))
        put("f_background_scale", params.get("background_scale", np.nan))
        for c, info in zip(truth.crystals, infos, strict=True):
            put("c_astar", c.astar)
            put("c_cell", np.array(c.cell_parameters()))
            for key in ("size_um", "profile_radius", "fluence", "scale"):
                put(f"c_{key}", info[key])
        put("r_lattice", truth.lattice)
        put("r_hkl", refl.hkl)
        put("r_q", truth.q)
        put("r_panel", refl.panel)
        put("r_fs", refl.fs)
        put("r_ss", refl.ss)
        put("r_partiality", refl.partiality)
        put("r_photons", refl.intensity)
        put("r_peak_photons", refl.max_intensity)
        put("r_snr", refl.snr)
        put("r_foundable", truth.foundable)
        put("l_pixels", np.flatnonzero(truth.label_mask.reshape(-1)))

    def close(self) -> None:
        r = self._rows
        n = len(r.get("f_index", []))

        def cat(key: str, shape: tuple, dtype) -> np.ndarray:
            parts = r.get(key, [])
            if not parts:
                return np.zeros((0,) + shape, dtype)
            return np.concatenate([np.asarray(p, dtype).reshape((-1,) + shape) for p in parts])

        def offsets(key: str) -> np.ndarray:
            return np.concatenate([[0], np.cumsum([len(p) for p in r.get(key, [])], dtype=np.int64)]).astype(np.int64)

        with atomic_path(self.path) as tmp, h5py.File(tmp, "w") as f:
            f.attrs["format"] = FORMAT
            f.attrs["version"] = VERSION
            f.attrs["slab_shape"] = np.asarray(self.slab_shape, np.int64)
            for k, v in self.attrs.items():
                f.attrs[k] = v
            fr = f.create_group("frames")
            fr["index"] = np.asarray(r.get("f_index", []), np.int64)
            fr["is_hit"] = np.asarray(r.get("f_is_hit", []), bool)
            for key in ("n_crystals", "n_reflections", "n_foundable"):
                fr[key] = np.asarray(r.get(f"f_{key}", []), np.int32)
            for key in ("pulse_energy", "background_scale"):
                fr[key] = np.asarray(r.get(f"f_{key}", []), np.float64)
            fr["crystal_offset"] = np.concatenate([[0], np.cumsum(fr["n_crystals"][()], dtype=np.int64)])
            fr["reflection_offset"] = offsets("r_fs") if n else np.zeros(1, np.int64)
            fr["label_offset"] = offsets("l_pixels") if n else np.zeros(1, np.int64)
            cr = f.create_group("crystals")
            cr["astar"] = cat("c_astar", (3, 3), np.float64)
            cr["cell"] = cat("c_cell", (6,), np.float64)
            for key in ("size_um", "profile_radius", "fluence", "scale"):
                cr[key] = np.asarray(r.get(f"c_{key}", []), np.float64)
            rf = f.create_group("reflections")
            rf.create_dataset("lattice", data=cat("r_lattice", (), np.int32))
            rf.create_dataset("hkl", data=cat("r_hkl", (3,), np.int32))
            rf.create_dataset("q", data=cat("r_q", (3,), np.float64))
            rf.create_dataset("panel", data=cat("r_panel", (), np.int32))
            for key in ("fs", "ss", "partiality", "photons", "peak_photons", "snr"):
                rf.create_dataset(key, data=cat(f"r_{key}", (), np.float64))
            rf.create_dataset("foundable", data=cat("r_foundable", (), bool))
            f.create_group("label").create_dataset("pixels", data=cat("l_pixels", (), np.int64), compression="gzip")


class TruthFile:
    """Reader of a truth sidecar: per-frame reflections, crystals and label masks."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        try:
            self._f = h5py.File(self.path, "r")
        except OSError as exc:
            raise InputError(str(path), None, f"cannot open truth file: {exc}") from None
        if self._f.attrs.get("format") != FORMAT:
            self._f.close()
            raise InputError(str(path), "format", f"not a {FORMAT} file")
        self.attrs = dict(self._f.attrs)
        self.slab_shape = tuple(int(x) for x in self.attrs["slab_shape"])
        fr = self._f["frames"]
        self.index = fr["index"][()]
        self.is_hit = fr["is_hit"][()]
        self._refl_off = fr["reflection_offset"][()]
        self._cryst_off = fr["crystal_offset"][()]
        self._label_off = fr["label_offset"][()]

    def __len__(self) -> int:
        return int(self.index.size)

    def _row(self, i: int) -> int:
        if not 0 <= i < len(self):
            raise IndexError(i)
        return i

    def reflections(self, i: int) -> PeakList:
        """All kept reflections of frame row `i` (intensity = integrated photons)."""
        i = self._row(i)
        sl = slice(self._refl_off[i], self._refl_off[i + 1])
        g = self._f["reflections"]
        return PeakList(
            fs=g["fs"][sl], ss=g["ss"][sl], panel=g["panel"][sl], intensity=g["photons"][sl],
            snr=g["snr"][sl], max_intensity=g["peak_photons"][sl], hkl=g["hkl"][sl], partiality=g["partiality"][sl],
        )

    def foundable(self, i: int) -> np.ndarray:
        i = self._row(i)
        return self._f["reflections/foundable"][self._refl_off[i] : self._refl_off[i + 1]]

    def foundable_peaks(self, i: int) -> PeakList:
        return self.reflections(i).subset(self.foundable(i))

    def astar(self, i: int) -> np.ndarray:
        """(n_crystals, 3, 3) orientation matrices (rows a*, b*, c*, lab frame) of frame row `i`."""
        i = self._row(i)
        return self._f["crystals/astar"][self._cryst_off[i] : self._cryst_off[i + 1]]

    def label_mask(self, i: int) -> np.ndarray:
        i = self._row(i)
        out = np.zeros(self.slab_shape[0] * self.slab_shape[1], bool)
        out[self._f["label/pixels"][self._label_off[i] : self._label_off[i + 1]]] = True
        return out.reshape(self.slab_shape)

    def close(self) -> None:
        self._f.close()

    def __enter__(self) -> TruthFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
