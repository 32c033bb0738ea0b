"""Detector geometry model (CrystFEL semantics) and its vectorised transforms.

Lab frame as CrystFEL: +z along the beam, +y up, right-handed. A panel's `corner_x/y`
is the lab position (in its pixels) of the outer corner of its first pixel, and
`fs`/`ss` are its pixel-step direction vectors. Slab coordinates follow the package
convention (centre of pixel (0, 0) at 0.0), so panel-relative corner coordinates are
`fs - min_fs + 0.5`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np

from peaknet_bench.errors import InputError
from peaknet_bench.util import detmath as dm


# Detector names (as files write them) of photon-counting detectors; any other named detector integrates.
_COUNTING_NAMES = ("PILATUS", "EIGER", "XPAD", "MEDIPIX", "TIMEPIX", "LAMBDA", "MYTHEN")


def counts_photons(detector_name: str | None) -> bool | None:
    """Whether a detector a file names (imgCIF ``_diffrn_detector.type``, NeXus ``description``)
    counts photons; None when the file names none."""
    if detector_name is None or not detector_name.strip() or detector_name.strip() in (".", "?"):
        return None
    name = detector_name.upper()
    return any(k in name for k in _COUNTING_NAMES)


@dataclass
class Panel:
    """One rectangular panel of the data array placed in the lab frame."""

    name: str
    min_fs: int
    max_fs: int
    min_ss: int
    max_ss: int
    corner_x: float = 0.0
    corner_y: float = 0.0
    fs: tuple[float, float, float] = (1.0, 0.0, 0.0)
    ss: tuple[float, float, float] = (0.0, 1.0, 0.0)
    res: float = 10000.0  # pixels per metre
    coffset: float = 0.0  # metres, added to clen
    clen_m: float | None = None  # per-panel camera length override (metres)
    clen_path: str | None = None  # per-panel camera length from an HDF5 header (mm)
    adu_per_photon: float | None = None
    adu_per_ev: float | None = None
    max_adu: float | None = None
    no_index: bool = False
    extra: dict[str, str] = field(default_factory=dict)  # other CrystFEL keys, kept verbatim

    @property
    def width(self) -> int:
        """Pixels along fs."""
        return self.max_fs - self.min_fs + 1

    @property
    def height(self) -> int:
        """Pixels along ss."""
        return self.max_ss - self.min_ss + 1

    @property
    def pixel_size_m(self) -> float:
        return 1.0 / self.res

    def fs_vec(self) -> np.ndarray:
        return np.asarray(self.fs, dtype=np.float64)

    def ss_vec(self) -> np.ndarray:
        return np.asarray(self.ss, dtype=np.float64)


@dataclass
class BadRegion:
    """A region whose pixels must not be used: slab form (`panel` + fs/ss) or lab form (x/y)."""

    name: str
    panel: str | None = None
    min_fs: int | None = None
    max_fs: int | None = None
    min_ss: int | None = None
    max_ss: int | None = None
    min_x: float | None = None
    max_x: float | None = None
    min_y: float | None = None
    max_y: float | None = None

    @property
    def is_lab(self) -> bool:
        return self.min_x is not None


MAX_SLAB_SIDE = 1 << 20  # pixels along fs or ss of the data array
MAX_SLAB_PIXELS = 1 << 28  # 16 times the largest detectors in use (Jungfrau 16M)


def check_photon_energy(value: float, source: str | None, where: str | None) -> float:
    """`value` when it is a positive, finite photon energy in eV; else InputError naming `where`."""
    x = float(value)
    if not (np.isfinite(x) and x > 0):
        raise InputError(source, where, f"expected a positive photon energy in eV, got {x}")
    return x


def check_frame_beam(geometry, photon_energy_ev: float, clen_m: float | None, source: str | None, where: str) -> None:
    """A frame's photon energy and camera length (with its geometry's coffsets), checked where
    the frame is known, so the error names file and frame (prediction and indexing would
    otherwise refuse them naming neither)."""
    check_photon_energy(photon_energy_ev, source, f"{where} photon energy")
    try:
        geometry.panel_clen_m(clen_m)
    except InputError as exc:
        raise InputError(source, f"{where} camera length", exc.message) from None


def check_camera_length(value: float, source: str | None, where: str | None) -> float:
    """`value` when it is a positive, finite detector distance in metres (the detector lies
    downstream of the sample); else InputError naming `where`."""
    x = float(value)
    if not (np.isfinite(x) and x > 0):
        raise InputError(source, where, f"expected a positive camera length in metres, got {x}")
    return x


@dataclass
class Geometry:
    """A whole detector: panels, bad regions, groups and the file-level settings."""

    panels: list[Panel]
    clen_m: float | None = None  # camera length in metres, when given as a number
    clen_path: str | None = None  # ... or an HDF5 header path (value in mm)
    photon_energy_ev: float | None = None
    photon_energy_path: str | None = None
    photon_energy_scale: float | None = None
    bad_regions: list[BadRegion] = field(default_factory=list)
    groups: dict[str, list[str]] = field(default_factory=dict)
    rigid_groups: dict[str, list[str]] = field(default_factory=dict)
    rigid_group_collections: dict[str, list[str]] = field(default_factory=dict)
    header: dict[str, str] = field(default_factory=dict)  # data, dimN, peak_list, mask, ... verbatim
    # Panels placed by a numeric data dimension (EuXFEL `dim1 = 3`, data (frame, module, ss, fs))
    # are stacked in the slab: slab ss = index * stack_ss + file ss, i.e. the data reshaped to
    # (frame, module * ss, fs). None for ordinary 2-D slabs.
    stack_ss: int | None = None
    source: str | None = None  # file name or preset name, for error messages
    # True: a photon-counting detector (Pilatus, Eiger: each photon one count, charge sharing
    # suppressed by the counting threshold, so a spot may be a single pixel); False: a
    # charge-integrating one (CSPAD, ePix, Jungfrau, AGIPD, CCDs: a photon's charge and the
    # optics spread every spot over neighbours); None: unknown (a CrystFEL .geom has no such
    # key). Set by the presets and by readers whose files name the detector.
    counts_photons: bool | None = None

    # ------------------------------------------------------------------ layout
    def __post_init__(self) -> None:
        if not self.panels:
            raise InputError(self.source, None, "geometry has no panels")
        self._validate()

    def _validate(self) -> None:
        """Values every transform divides by or allocates from, checked once for every geometry
        (files, presets, readers' own metrology), so that a zero photon energy, a camera
        length behind the sample or a panel rectangle of 10^11 pixels is an error naming the
        field instead of a ZeroDivisionError or a 36 TiB allocation later."""
        for p in self.panels:
            where = f"panel {p.name}"
            if not (0 <= p.min_fs <= p.max_fs < MAX_SLAB_SIDE and 0 <= p.min_ss <= p.max_ss < MAX_SLAB_SIDE):
                raise InputError(self.source, where, f"expected 0 <= min_fs <= max_fs < {MAX_SLAB_SIDE} and the same "
                                                     f"for ss, got fs {p.min_fs}..{p.max_fs}, ss {p.min_ss}..{p.max_ss}")
            if not (np.isfinite(p.res) and p.res > 0):
                raise InputError(self.source, f"{where} res", f"expected a positive number of pixels per metre, got {p.res}")
            if p.clen_m is not None:
                check_camera_length(p.clen_m + p.coffset, self.source, f"{where} clen + coffset")
        n_ss, n_fs = self.slab_shape
        if n_ss * n_fs > MAX_SLAB_PIXELS:
            raise InputError(self.source, "panels", f"the panels span a {n_ss} x {n_fs} data array; expected at most "
                                                    f"{MAX_SLAB_PIXELS} pixels (a mistyped min/max_fs or min/max_ss?)")
        if self.photon_energy_ev is not None:
            check_photon_energy(self.photon_energy_ev, self.source, "photon_energy")
        if self.clen_m is not None:
            self.panel_clen_m()  # checks clen + coffset of every panel

    def __eq__(self, other: object) -> bool:  # what a CrystFEL .geom holds: not the source label or detector kind
        if not isinstance(other, Geometry):
            return NotImplemented
        keys = [k for k in self.__dataclass_fields__ if k not in ("source", "counts_photons")]
        return all(getattr(self, k) == getattr(other, k) for k in keys)

    __hash__ = None  # mutable

    @property
    def n_panels(self) -> int:
        return len(self.panels)

    @property
    def slab_shape(self) -> tuple[int, int]:
        """(n_ss, n_fs) of the data array that holds all panels."""
        return (max(p.max_ss for p in self.panels) + 1, max(p.max_fs for p in self.panels) + 1)

    def panel_names(self) -> list[str]:
        return [p.name for p in self.panels]

    def panel_index(self, name: str) -> int:
        for i, p in enumerate(self.panels):
            if p.name == name:
                return i
        raise InputError(self.source, f"panel {name!r}", f"no such panel (have {self.n_panels})")

    @functools.cached_property
    def panel_map(self) -> np.ndarray:
        """(n_ss, n_fs) int16: index of the panel owning each slab pixel, -1 where none."""
        out = np.full(self.slab_shape, -1, dtype=np.int16)
        for i, p in enumerate(self.panels):
            out[p.min_ss : p.max_ss + 1, p.min_fs : p.max_fs + 1] = i
        return out

    def _arrays(self) -> dict[str, np.ndarray]:
        """Per-panel parameters as arrays, for vectorised transforms."""
        cache = self.__dict__.get("_array_cache")
        if cache is None:
            ps = self.panels
            cache = {
                "min_fs": np.array([p.min_fs for p in ps], np.float64),
                "min_ss": np.array([p.min_ss for p in ps], np.float64),
                "width": np.array([p.width for p in ps], np.float64),
                "height": np.array([p.height for p in ps], np.float64),
                "corner": np.array([[p.corner_x, p.corner_y] for p in ps], np.float64),
                "fs": np.array([p.fs for p in ps], np.float64),
                "ss": np.array([p.ss for p in ps], np.float64),
                "res": np.array([p.res for p in ps], np.float64),
                "coffset": np.array([p.coffset for p in ps], np.float64),
            }
            self.__dict__["_array_cache"] = cache
        return cache

    def panel_clen_m(self, clen_m: float | None = None) -> np.ndarray:
        """Camera length per panel (metres): explicit argument, else per-panel, else top-level.
        Raises InputError when a panel would sit at or behind the sample (clen + coffset <= 0)."""
        out = np.empty(self.n_panels)
        for i, p in enumerate(self.panels):
            value = clen_m if clen_m is not None else (p.clen_m if p.clen_m is not None else self.clen_m)
            if value is None:
                where = p.clen_path or self.clen_path
                raise InputError(
                    self.source, f"panel {p.name} clen",
                    f"camera length comes from the data file ({where}); pass clen_m explicitly",
                )
            out[i] = value
        distance = out + np.array([p.coffset for p in self.panels], np.float64)
        bad = np.flatnonzero(~(np.isfinite(distance) & (distance > 0)))
        if bad.size:
            p = self.panels[int(bad[0])]
            check_camera_length(float(distance[bad[0]]), self.source,
                                f"panel {p.name} clen + coffset ({out[bad[0]]} + {p.coffset} m)")
        return out

    # -------------------------------------------------------------- transforms
    def panel_of(self, fs: np.ndarray, ss: np.ndarray) -> np.ndarray:
        """Panel index of slab coordinates (nearest pixel), -1 outside every panel."""
        fs_i = np.rint(np.asarray(fs, dtype=np.float64)).astype(np.int64)
        ss_i = np.rint(np.asarray(ss, dtype=np.float64)).astype(np.int64)
        n_ss, n_fs = self.slab_shape
        inside = (fs_i >= 0) & (fs_i < n_fs) & (ss_i >= 0) & (ss_i < n_ss)
        out = np.full(fs_i.shape, -1, dtype=np.int32)
        out[inside] = self.panel_map[ss_i[inside], fs_i[inside]]
        return out

    def lab_position_m(
        self, fs: np.ndarray, ss: np.ndarray, panel: np.ndarray | None = None, clen_m: float | None = None
    ) -> np.ndarray:
        """Lab position (metres, from the interaction point) of slab coordinates. Shape (..., 3)."""
        fs = np.asarray(fs, dtype=np.float64)
        ss = np.asarray(ss, dtype=np.float64)
        if panel is None:
            panel = self.panel_of(fs, ss)
        panel = np.asarray(panel, dtype=np.int64)
        if np.any(panel < 0):
            raise InputError(self.source, "slab coordinates", "some positions are outside every panel")
        a = self._arrays()
        u = fs - a["min_fs"][panel] + 0.5  # panel-relative, corner convention
        v = ss - a["min_ss"][panel] + 0.5
        clen = self.panel_clen_m(clen_m)
        res = a["res"][panel]
        x = a["corner"][panel, 0] + u * a["fs"][panel, 0] + v * a["ss"][panel, 0]
        y = a["corner"][panel, 1] + u * a["fs"][panel, 1] + v * a["ss"][panel, 1]
        z = (clen[panel] + a["coffset"][panel]) * res + u * a["fs"][panel, 2] + v * a["ss"][panel, 2]
        return np.stack([x, y, z], axis=-1) / res[..., None]

    def pixel_positions_m(self, clen_m: float | None = None) -> np.ndarray:
        """Lab positions (metres) of every slab pixel centre, (n_ss, n_fs, 3); NaN outside panels."""
        n_ss, n_fs = self.slab_shape
        out = np.full((n_ss, n_fs, 3), np.nan)
        for i, p in enumerate(self.panels):
            ss, fs = np.mgrid[p.min_ss : p.max_ss + 1, p.min_fs : p.max_fs + 1].astype(np.float64)
            out[p.min_ss : p.max_ss + 1, p.min_fs : p.max_fs + 1] = self.lab_position_m(
                fs, ss, np.full(fs.shape, i), clen_m
            )
        return out

    def q_vectors(
        self, fs: np.ndarray, ss: np.ndarray, wavelength_a: float, panel: np.ndarray | None = None,
        clen_m: float | None = None,
    ) -> np.ndarray:
        """Scattering vectors q = r/(λ|r|) − (0,0,1/λ) in Å⁻¹ (no 2π) for slab coordinates."""
        return lab_to_q(self.lab_position_m(fs, ss, panel, clen_m), wavelength_a)

    def ray_to_slab(
        self, directions: np.ndarray, clen_m: float | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Intersect rays from the interaction point with every panel.

        Returns (panel, fs, ss): panel index (-1 where the ray misses every panel or falls
        in a gap) and slab coordinates. Vectorised over rays x panels, in chunks of rays so
        that the (rays, panels) work arrays stay near 32 MB whatever the detector.
        """
        d = np.asarray(directions, dtype=np.float64).reshape(-1, 3)
        a = self._arrays()
        clen = self.panel_clen_m(clen_m)
        res = a["res"]
        # Panel origins and edge vectors in metres.
        origin = np.column_stack([a["corner"], (clen + a["coffset"]) * res]) / res[:, None]
        fs_m = a["fs"] / res[:, None]
        ss_m = a["ss"] / res[:, None]
        normal = np.cross(fs_m, ss_m)
        num = dm.dot(origin, normal)  # (P,)
        # Dual basis gives the in-plane coordinates (u along fs, v along ss) of a point r:
        # u = (r - origin)·dual_u; with r = t·d this is t·(d·dual_u) - origin·dual_u.
        dual_u = np.cross(ss_m, normal)
        dual_u /= dm.dot(fs_m, dual_u)[:, None]
        dual_v = np.cross(normal, fs_m)
        dual_v /= dm.dot(ss_m, dual_v)[:, None]
        u0 = dm.dot(origin, dual_u)
        v0 = dm.dot(origin, dual_v)
        n = d.shape[0]
        panel = np.full(n, -1, dtype=np.int32)
        fs = np.full(n, np.nan)
        ss = np.full(n, np.nan)
        chunk = max(1, (1 << 22) // self.n_panels)
        for start in range(0, n, chunk):
            dc = d[start : start + chunk]
            with np.errstate(divide="ignore", invalid="ignore"):
                t = num[None, :] / dm.matmul(dc, normal.T)  # (n, P) distance along each ray
            u = t * dm.matmul(dc, dual_u.T) - u0
            v = t * dm.matmul(dc, dual_v.T) - v0
            inside = (t > 0) & np.isfinite(t) & (u >= 0) & (u < a["width"]) & (v >= 0) & (v < a["height"])
            # Nearest panel along the ray wins where panels overlap in projection.
            best = np.argmin(np.where(inside, t, np.inf), axis=1)
            rows = np.nonzero(inside.any(axis=1))[0]
            bp = best[rows]
            panel[start + rows] = bp
            fs[start + rows] = a["min_fs"][bp] + u[rows, bp] - 0.5
            ss[start + rows] = a["min_ss"][bp] + v[rows, bp] - 0.5
        return panel, fs, ss

    def lab_pixels_xy(self) -> np.ndarray:
        """Lab x, y (in each panel's pixel units) of every slab pixel centre, (n_ss, n_fs, 2); NaN
        outside panels. Independent of the camera length (used for radius maps and assembly)."""
        n_ss, n_fs = self.slab_shape
        out = np.full((n_ss, n_fs, 2), np.nan)
        for p in self.panels:
            v, u = np.mgrid[0 : p.height, 0 : p.width].astype(np.float64) + 0.5
            out[p.min_ss : p.max_ss + 1, p.min_fs : p.max_fs + 1, 0] = p.corner_x + u * p.fs[0] + v * p.ss[0]
            out[p.min_ss : p.max_ss + 1, p.min_fs : p.max_fs + 1, 1] = p.corner_y + u * p.fs[1] + v * p.ss[1]
        return out

    def bad_pixel_mask(self) -> np.ndarray:
        """(n_ss, n_fs) bool, True = good: pixels in a panel and outside every bad region.

        Lab-form regions are tested against pixel centres in each panel's own pixel units (as
        CrystFEL does), panel by panel, so that no whole-detector coordinate array is built.
        """
        good = self.panel_map >= 0
        lab = [r for r in self.bad_regions if r.is_lab]
        for region in self.bad_regions:
            if region.is_lab:
                continue
            if region.panel is not None:
                p = self.panels[self.panel_index(region.panel)]
                ss0, ss1 = max(region.min_ss, p.min_ss), min(region.max_ss, p.max_ss) + 1
                fs0, fs1 = max(region.min_fs, p.min_fs), min(region.max_fs, p.max_fs) + 1
                if ss1 > ss0 and fs1 > fs0:
                    good[ss0:ss1, fs0:fs1] = False
            else:
                good[region.min_ss : region.max_ss + 1, region.min_fs : region.max_fs + 1] = False
        if lab:
            for p in self.panels:
                v = np.arange(p.height, dtype=np.float64)[:, None] + 0.5
                u = np.arange(p.width, dtype=np.float64)[None, :] + 0.5
                x = p.corner_x + u * p.fs[0] + v * p.ss[0]
                y = p.corner_y + u * p.fs[1] + v * p.ss[1]
                sub = good[p.min_ss : p.max_ss + 1, p.min_fs : p.max_fs + 1]
                for r in lab:
                    sub &= ~((x >= r.min_x) & (x <= r.max_x) & (y >= r.min_y) & (y <= r.max_y))
        for p in self.panels:
            if p.no_index:
                good[p.min_ss : p.max_ss + 1, p.min_fs : p.max_fs + 1] = False
        return good

    def max_resolution_a(self, wavelength_a: float, clen_m: float | None = None) -> float:
        """Best resolution (Å) reached at the detector's outermost pixel corner.

        All panel corners go through one vectorised call (a call per panel costs a per-panel
        parameter table each time: quadratic in the number of panels)."""
        a = self._arrays()
        lo_fs, lo_ss = a["min_fs"] - 0.5, a["min_ss"] - 0.5
        hi_fs, hi_ss = lo_fs + a["width"], lo_ss + a["height"]
        fs = np.stack([lo_fs, hi_fs, lo_fs, hi_fs], 1).ravel()
        ss = np.stack([lo_ss, lo_ss, hi_ss, hi_ss], 1).ravel()
        panel = np.repeat(np.arange(self.n_panels), 4)
        return float(1.0 / np.max(dm.norm(self.q_vectors(fs, ss, wavelength_a, panel, clen_m))))


def lab_to_q(position_m: np.ndarray, wavelength_a: float) -> np.ndarray:
    """q = r/(λ|r|) − (0, 0, 1/λ), Å⁻¹, for lab positions in metres (any unit works: only the
    direction matters)."""
    r = np.asarray(position_m, dtype=np.float64)
    k = 1.0 / wavelength_a
    q = r / dm.norm(r, keepdims=True) * k
    q[..., 2] -= k
    return q
