"""NeXus/NXmx HDF5 frames (Eiger, Jungfrau at synchrotrons and SwissFEL), read with h5py + hdf5plugin.

A master file holds the metadata and (usually) external links `/entry/data/data_000001`, ...
to data files compressed with bitshuffle/LZ4. Geometry: every `NXdetector_module` gives its
rectangle in the image (`data_origin`, `data_size`, slow then fast) and its pixel axes
`fast_pixel_direction` / `slow_pixel_direction` (translations of one pixel, with `vector`,
`offset`, `units`, `depends_on` attributes) whose `depends_on` chain (module_offset, the
detector's transformations) places them in the lab frame. NeXus uses the McStas frame (+z
along the beam, +y up), which is CrystFEL's, so no rotation is needed. As dxtbx reads it, the
chain origin of a module is the outer corner of its first pixel.

Bad pixels: `pixel_mask` non-zero (NXmx: 0 = good), values >= `saturation_value`, and, for
unsigned data, the dtype's maximum (Eiger's flag for masked/overflowing pixels).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from peaknet_bench.crystal.orientation import axis_angle_matrix
from peaknet_bench.errors import InputError
from peaknet_bench.frame import WAVELENGTH_EV_A
from peaknet_bench.io.frames import HDF5_MAGIC, FrameReader, register_reader
from peaknet_bench.util import detmath as dm

_UNITS_M = {"m": 1.0, "metre": 1.0, "meter": 1.0, "mm": 1e-3, "millimetre": 1e-3, "millimeter": 1e-3,
            "um": 1e-6, "micron": 1e-6, "microns": 1e-6, "µm": 1e-6, "nm": 1e-9, "cm": 1e-2}


def _attr(obj, name: str, default: Any = None) -> Any:
    value = obj.attrs.get(name, default)
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.ndarray) and value.dtype.kind in "SO" and value.size == 1:
        v = value.reshape(-1)[0]
        return v.decode() if isinstance(v, bytes) else v
    return value


def _nx_class(obj) -> str:
    return str(_attr(obj, "NX_class", "") or "")


def _find(group, nx_class: str) -> list:
    """Direct children of `group` with that NX_class."""
    out = []
    for key in group:
        try:
            child = group[key]
        except (KeyError, OSError):
            continue
        if hasattr(child, "keys") and _nx_class(child) == nx_class:
            out.append(child)
    return out


def _rotation(axis: np.ndarray, angle_deg: float) -> np.ndarray:
    """Right-handed rotation matrix about `axis` by `angle_deg` (CPU-independent arithmetic:
    the geometry every later number depends on)."""
    return axis_angle_matrix(axis, math.radians(float(angle_deg)))


class _Chain:
    """Follows NeXus `depends_on` transformation chains (lengths in metres)."""

    def __init__(self, f, source: str) -> None:
        self.f = f
        self.source = source

    def _resolve(self, ref: str, base) -> Any:
        if ref in (".", ""):
            return None
        target = ref if ref.startswith("/") else f"{base.parent.name.rstrip('/')}/{ref}"
        if target not in self.f:
            raise InputError(self.source, base.name, f"depends_on {ref!r} points to nothing")
        return self.f[target]

    def place(self, ds, point: np.ndarray, value: float | None = None) -> np.ndarray:
        """Apply transformation dataset `ds` (with `value` instead of its own) and its chain."""
        p = np.asarray(point, np.float64)
        seen = set()
        first = True
        while ds is not None:
            if ds.name in seen:
                raise InputError(self.source, ds.name, "depends_on forms a cycle")
            seen.add(ds.name)
            kind = str(_attr(ds, "transformation_type", "translation")).lower()
            vec = np.asarray(_attr(ds, "vector", (0.0, 0.0, 1.0)), np.float64).reshape(3)
            units = str(_attr(ds, "units", "m")).lower()
            off = np.asarray(_attr(ds, "offset", (0.0, 0.0, 0.0)), np.float64).reshape(3)
            off_scale = _UNITS_M.get(str(_attr(ds, "offset_units", units)).lower(), 1.0)
            v = value if (first and value is not None) else float(np.asarray(ds[()]).reshape(-1)[0])
            if kind == "rotation":
                angle = v if units.startswith("deg") else np.rad2deg(v)
                p = dm.matmul(_rotation(vec, angle), p) + off * off_scale
            else:
                if units not in _UNITS_M:
                    raise InputError(self.source, ds.name, f"units {units!r}; expected a length unit (m, mm, um)")
                p = p + vec / dm.norm(vec) * v * _UNITS_M[units] + off * off_scale
            ds = self._resolve(str(_attr(ds, "depends_on", ".")), ds)
            first = False
        return p


def is_nxmx(path: str) -> bool:
    import h5py

    try:
        with h5py.File(path, "r") as f:
            for entry in _find(f, "NXentry"):
                for inst in _find(entry, "NXinstrument"):
                    if _find(inst, "NXdetector"):
                        return True
    except OSError:
        return False
    return False


@register_reader
class NXmxReader(FrameReader):
    """Frames of a NeXus/NXmx master file (external data links followed, multi-module)."""

    name = "nexus"
    extensions = (".nxs", "_master.h5", ".h5", ".nx5")

    @classmethod
    def sniff(cls, path: str, head: bytes) -> bool:
        return head.startswith(HDF5_MAGIC) and is_nxmx(path)

    def __init__(self, path: str, geometry: Any | None = None) -> None:
        super().__init__(path, geometry)
        self._f = None
        self._blocks: list[tuple[str, Any, int]] | None = None

    # -------------------------------------------------------------- structure
    def _file(self):
        if self._f is None:
            import h5py
            import hdf5plugin  # noqa: F401  (registers the bitshuffle/LZ4 filters)

            try:
                self._f = h5py.File(self.path, "r")
            except OSError as exc:
                raise InputError(self.path, None, f"not a readable HDF5 file ({exc})") from None
            entries = _find(self._f, "NXentry")
            if not entries:
                raise InputError(self.path, "/", "no NXentry group; expected a NeXus/NXmx master file")
            self._entry = entries[0]
            inst = _find(self._entry, "NXinstrument")
            dets = _find(inst[0], "NXdetector") if inst else []
            if not dets:
                raise InputError(self.path, self._entry.name, "no NXinstrument/NXdetector; expected NXmx")
            self._det = dets[0]
        return self._f

    def _data_blocks(self) -> list[tuple[str, Any, int]]:
        """[(name, dataset, n_frames)] of /entry/data, following external links."""
        if self._blocks is None:
            f = self._file()
            groups = [g for g in _find(self._entry, "NXdata")] or ([self._entry["data"]] if "data" in self._entry else [])
            if not groups:
                raise InputError(self.path, self._entry.name, "no NXdata group; expected /entry/data")
            g = groups[0]
            blocks = []
            for key in sorted(k for k in g if k.startswith("data")):
                link = g.get(key, getlink=True)
                try:
                    ds = g[key]
                except (KeyError, OSError) as exc:
                    target = f"{link.filename}:{link.path}" if hasattr(link, "filename") else str(link)
                    raise InputError(self.path, f"{g.name}/{key}", f"link to {target} cannot be opened ({exc}); "
                                                                   "expected the data file next to the master file") from None
                if not hasattr(ds, "shape") or ds.ndim not in (2, 3):
                    raise InputError(self.path, f"{g.name}/{key}", f"expected a 3-D (frames, ss, fs) dataset, got "
                                                                   f"{getattr(ds, 'shape', type(ds).__name__)}")
                blocks.append((key, ds, 1 if ds.ndim == 2 else ds.shape[0]))
            if not blocks:
                raise InputError(self.path, g.name, "no data/data_NNNNNN datasets")
            self._blocks = blocks
            del f
        return self._blocks

    def __len__(self) -> int:
        return sum(n for _, _, n in self._data_blocks())

    def _image_shape(self) -> tuple[int, int]:
        ds = self._data_blocks()[0][1]
        return tuple(ds.shape[-2:])

    def file_geometry(self):
        from peaknet_bench.geometry import Geometry, Panel
        from peaknet_bench.geometry.model import counts_photons

        self._file()
        chain = _Chain(self._f, self.path)
        modules = _find(self._det, "NXdetector_module")
        if not modules:
            raise InputError(self.path, self._det.name, "no NXdetector_module; expected the module geometry")
        shape = self._image_shape()
        specs = []
        for k, m in enumerate(modules):
            for need in ("data_origin", "data_size", "fast_pixel_direction", "slow_pixel_direction"):
                if need not in m:
                    raise InputError(self.path, f"{m.name}/{need}", "missing; expected an NXmx detector module")
            origin = np.asarray(m["data_origin"][()], np.int64).reshape(-1)
            size = np.asarray(m["data_size"][()], np.int64).reshape(-1)
            if origin.size == 3 and size.size == 3:  # (frame, slow, fast) layouts
                origin, size = origin[1:], size[1:]
            if origin.size != 2 or size.size != 2:
                raise InputError(self.path, f"{m.name}/data_origin", f"{origin.tolist()} / size {size.tolist()}; "
                                                                     "expected (slow, fast) pairs (unknown module layout)")
            ss0, fs0 = (int(v) for v in origin)
            nss, nfs = (int(v) for v in size)
            if ss0 < 0 or fs0 < 0 or ss0 + nss > shape[0] or fs0 + nfs > shape[1]:
                raise InputError(self.path, f"{m.name}/data_origin", f"module rectangle ss {ss0}+{nss}, fs {fs0}+{nfs} "
                                                                     f"lies outside the {shape} image")
            fast_ds, slow_ds = m["fast_pixel_direction"], m["slow_pixel_direction"]
            corner = chain.place(fast_ds, np.zeros(3), 0.0)
            fast = chain.place(fast_ds, np.zeros(3), None) - corner
            slow = chain.place(slow_ds, np.zeros(3), None) - chain.place(slow_ds, np.zeros(3), 0.0)
            specs.append((m.name.rsplit("/", 1)[-1], ss0, fs0, nss, nfs, corner, fast, slow))
        clen = float(np.median([s[5][2] for s in specs]))
        panels = []
        for name, ss0, fs0, nss, nfs, corner, fast, slow in specs:
            px = float(dm.norm(fast))
            if px <= 0 or abs(float(dm.norm(slow)) - px) > 1e-6 * px:
                raise InputError(self.path, name, "pixel directions have zero or unequal lengths; expected square pixels")
            panels.append(Panel(name=name.replace("/", "_"), min_fs=fs0, max_fs=fs0 + nfs - 1, min_ss=ss0,
                                max_ss=ss0 + nss - 1, corner_x=float(corner[0] / px), corner_y=float(corner[1] / px),
                                fs=tuple(float(v) for v in fast / px), ss=tuple(float(v) for v in slow / px),
                                res=1.0 / px, coffset=float(corner[2] - clen)))
        return Geometry(panels=panels, clen_m=clen, photon_energy_ev=self._energy(), source=self.path,
                        counts_photons=counts_photons(self._detector_description()))

    def _detector_description(self) -> str | None:
        """NXdetector/description (e.g. "Dectris EIGER2 Si 16M"), or None."""
        if "description" not in self._det:
            return None
        value = self._det["description"][()]
        value = value.reshape(-1)[0] if isinstance(value, np.ndarray) and value.size else value
        return value.decode(errors="replace") if isinstance(value, bytes) else str(value)

    def _energy(self) -> float | None:
        for path in ("instrument/beam/incident_wavelength", "sample/beam/incident_wavelength",
                     "instrument/monochromator/wavelength", "instrument/beam/wavelength"):
            if path in self._entry:
                ds = self._entry[path]
                value = float(np.asarray(ds[()]).reshape(-1)[0])
                units = str(_attr(ds, "units", "angstrom")).lower()
                wavelength_a = value * {"nm": 10.0, "m": 1e10}.get(units, 1.0)
                return WAVELENGTH_EV_A / wavelength_a
        return None

    def _static_mask(self, shape: tuple[int, int]) -> np.ndarray:
        """`pixel_mask` (NXmx), or Dectris' older `detectorSpecific/pixel_mask`; 0 = good."""
        name = next((k for k in ("pixel_mask", "detectorSpecific/pixel_mask") if k in self._det), None)
        if name is None:
            return np.ones(shape, bool)
        pm = np.asarray(self._det[name][()])
        if pm.shape != shape:
            raise InputError(self.path, f"{self._det.name}/{name}", f"shape {pm.shape}, expected {shape}")
        return pm == 0

    def read(self, i: int):
        blocks = self._data_blocks()
        j = i
        for key, ds, n in blocks:
            if j < n:
                raw = np.asarray(ds[()] if ds.ndim == 2 else ds[j])
                break
            j -= n
        good = self._static_mask(raw.shape)
        if "saturation_value" in self._det:
            good &= raw < float(np.asarray(self._det["saturation_value"][()]).reshape(-1)[0])
        if raw.dtype.kind == "u":
            good &= raw != np.iinfo(raw.dtype).max
        return raw.astype(np.float32), good, {"event": f"//{i}"}

    def close(self) -> None:
        self._blocks = None
        if self._f is not None:
            self._f.close()
            self._f = None
