"""CXI files in the layout CrystFEL, Cheetah and psocake use (SPEC-crystfel §2).

Layout (n = number of frames, frame i is CrystFEL event ``//i``)::

    /cxi_version                          150
    /entry_1/data_1/data                  (n, ss, fs) float32, one frame per chunk, compressed
    /entry_1/data_1/mask                  (n, ss, fs) uint16, 0 = good, non-zero = bad
                                          (geometry: mask_good = 0x0000, mask_bad = 0xffff)
    /entry_1/result_1/nPeaks              (n,) int32
    /entry_1/result_1/peakXPosRaw         (n, max_peaks) float32   fs, slab, package convention
    /entry_1/result_1/peakYPosRaw         (n, max_peaks) float32   ss
    /entry_1/result_1/peakTotalIntensity  (n, max_peaks) float32
    /entry_1/result_1/peakMaximumValue    (n, max_peaks) float32
    /entry_1/result_1/peakNPixels         (n, max_peaks) float32
    /entry_1/result_1/peakSNR             (n, max_peaks) float32
    /LCLS/photon_energy_eV                (n,) float64
    /LCLS/detector_1/EncoderValue         (n,) float64  camera length in mm
    /LCLS/eventid                         (n,) utf-8 strings

Peak positions are stored in the package convention (pixel centres at integers): CrystFEL
adds the half-pixel shift itself when it reads a CXI peak list, so no shift happens here.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import h5py
import numpy as np

from peaknet_bench.errors import InputError
from peaknet_bench.frame import Frame, PeakList
from peaknet_bench.geometry.model import check_camera_length, check_photon_energy
from peaknet_bench.io._pending import AtomicWriterMixin, PendingFile

if TYPE_CHECKING:
    from peaknet_bench.geometry import Geometry

log = logging.getLogger(__name__)

DATA_PATH = "/entry_1/data_1/data"
MASK_PATH = "/entry_1/data_1/mask"
PEAK_GROUP = "/entry_1/result_1"
ENERGY_PATH = "/LCLS/photon_energy_eV"
CLEN_PATH = "/LCLS/detector_1/EncoderValue"
EVENT_PATH = "/LCLS/eventid"
#: peak columns: (dataset name, PeakList attribute); the first three are required by CrystFEL.
PEAK_COLUMNS = (
    ("peakXPosRaw", "fs"),
    ("peakYPosRaw", "ss"),
    ("peakTotalIntensity", "intensity"),
    ("peakMaximumValue", "max_intensity"),
    ("peakNPixels", "npix"),
    ("peakSNR", "snr"),
)
REQUIRED_PEAK_COLUMNS = ("peakXPosRaw", "peakYPosRaw", "peakTotalIntensity")
_STR = h5py.string_dtype("utf-8")


def _compression_kwargs(compression: str | None) -> dict[str, Any]:
    """h5py filter arguments. gzip is readable by every HDF5 (CrystFEL included); the hdf5plugin
    filters need the plugin at read time (HDF5_PLUGIN_PATH for CrystFEL, `import hdf5plugin`
    for Python)."""
    if compression is None or compression == "none":
        return {}
    if compression == "gzip":
        return {"compression": "gzip", "compression_opts": 4, "shuffle": True}
    if compression == "lzf":
        return {"compression": "lzf", "shuffle": True}
    import hdf5plugin

    if compression == "zstd":
        return dict(hdf5plugin.Zstd(clevel=3))
    if compression == "bitshuffle-lz4":
        return dict(hdf5plugin.Bitshuffle(cname="lz4"))
    raise ValueError(f"unknown compression {compression!r} (gzip, lzf, zstd, bitshuffle-lz4 or None)")


def _peak_columns(peaks: PeakList) -> dict[str, np.ndarray]:
    """The six stored columns of a peak list; missing optional columns are stored as 0."""
    zeros = np.zeros(len(peaks))
    return {name: (getattr(peaks, attr) if getattr(peaks, attr) is not None else zeros) for name, attr in PEAK_COLUMNS}


class CXIWriter(AtomicWriterMixin):
    """Append frames (data, mask, peaks, metadata) to a new CXI file, atomically.

    The file is written under a temporary name beside `path` and renamed on a successful
    `close()`; leaving the `with` block by an exception removes it, so `path` holds either
    the old file or a complete new one. The first `append` decides whether the file holds
    image data and/or peak lists; later appends must be consistent with it. Peak lists and
    per-frame metadata are buffered and flushed in blocks (writing one row of six datasets per
    frame would dominate the cost of peaks-only files); image frames are written as they come.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        slab_shape: tuple[int, int] | None = None,
        max_peaks: int = 2048,
        write_data: bool = True,
        write_mask: bool = True,
        compression: str | None = "gzip",
        flush_every: int = 512,
    ) -> None:
        if max_peaks < 1:
            raise ValueError("max_peaks must be >= 1")
        self.path = Path(path)
        self.slab_shape = tuple(slab_shape) if slab_shape is not None else None
        self.max_peaks = int(max_peaks)
        self.write_data = write_data
        self.write_mask = write_mask
        self._filter = _compression_kwargs(compression)
        self._flush_every = max(1, int(flush_every))
        self._pending = PendingFile(self.path)
        self._file: h5py.File | None = h5py.File(self._pending.tmp, "w")
        self._n = 0  # frames appended
        self._n_flushed = 0  # frames whose buffered rows are on disk
        self._has_data: bool | None = None
        self._has_peaks: bool | None = None
        self._buf: dict[str, list[Any]] = {}
        self._peak_rows: dict[str, np.ndarray] = {}

    # ------------------------------------------------------------------ set-up
    def _create(self, has_data: bool, has_peaks: bool) -> None:
        f = self._file
        f.create_dataset("cxi_version", data=150)
        f.attrs["creator"] = "peaknet-bench"
        self._has_data, self._has_peaks = has_data, has_peaks
        if has_data:
            ss, fs = self.slab_shape
            f.create_dataset(DATA_PATH, shape=(0, ss, fs), maxshape=(None, ss, fs), dtype=np.float32,
                             chunks=(1, ss, fs), **self._filter)
            if self.write_mask:
                # Masks are nearly constant: always compressed (cheap, ~100x) whatever the data filter.
                ds = f.create_dataset(MASK_PATH, shape=(0, ss, fs), maxshape=(None, ss, fs), dtype=np.uint16,
                                      chunks=(1, ss, fs), compression="gzip", compression_opts=1)
                ds.attrs["meaning"] = "0 = good, non-zero = bad (CrystFEL mask_good = 0x0000, mask_bad = 0xffff)"
        if has_peaks:
            # Chunks of (256 rows, 128 peaks): only the columns a block of frames actually fills
            # are ever written, the rest of the (n, max_peaks) table stays unallocated (reads as 0).
            chunks = (256, min(self.max_peaks, 128))
            for name, _ in PEAK_COLUMNS:
                f.create_dataset(f"{PEAK_GROUP}/{name}", shape=(0, self.max_peaks), maxshape=(None, self.max_peaks),
                                 dtype=np.float32, chunks=chunks, fillvalue=0.0, **self._filter)
                self._peak_rows[name] = np.zeros((self._flush_every, self.max_peaks), np.float32)
            f.create_dataset(f"{PEAK_GROUP}/nPeaks", shape=(0,), maxshape=(None,), dtype=np.int32, chunks=(4096,))
            f[PEAK_GROUP].attrs["max_peaks"] = self.max_peaks
            f[PEAK_GROUP].attrs["convention"] = "slab coordinates, centre of pixel (0,0) at (0.0, 0.0)"
        f.create_dataset(ENERGY_PATH, shape=(0,), maxshape=(None,), dtype=np.float64, chunks=(4096,))
        f.create_dataset(CLEN_PATH, shape=(0,), maxshape=(None,), dtype=np.float64, chunks=(4096,))
        f[CLEN_PATH].attrs["units"] = "mm"
        f.create_dataset(EVENT_PATH, shape=(0,), maxshape=(None,), dtype=_STR, chunks=(4096,))
        self._buf = {"nPeaks": [], "energy": [], "clen": [], "event": []}

    # ------------------------------------------------------------------ append
    def append(
        self,
        *,
        data: np.ndarray | None = None,
        mask: np.ndarray | None = None,
        peaks: PeakList | None = None,
        photon_energy_ev: float,
        clen_m: float,
        event: str,
    ) -> None:
        """Add one frame. `mask` is True = good (stored inverted, CXI style); without a mask all
        pixels are stored good. With `write_data=False` the data and mask arguments are ignored.
        More than `max_peaks` peaks: the strongest `max_peaks` are kept and a warning is logged."""
        if self._file is None:
            raise ValueError("CXIWriter is closed")
        has_data = self.write_data and data is not None
        if self._has_data is None:
            if has_data and self.slab_shape is None:
                self.slab_shape = tuple(np.shape(data))
            if not has_data and peaks is None:
                raise ValueError("the first frame must carry data or peaks")
            self._create(has_data, peaks is not None)
        if self.write_data and (data is not None) != self._has_data:
            raise ValueError("every frame of a CXI file must carry data, or none")
        if (peaks is not None) != self._has_peaks:
            raise ValueError("every frame of a CXI file must carry a peak list, or none")
        f = self._file
        i = self._n
        if self._has_data:
            # Check everything before writing anything, so a rejected frame leaves no trace.
            data = np.asarray(data, dtype=np.float32)
            if data.shape != self.slab_shape:
                raise ValueError(f"frame {i}: data shape {data.shape}, expected slab shape {self.slab_shape}")
            bad = None
            if self.write_mask:
                bad = np.zeros(self.slab_shape, np.uint16) if mask is None else (~np.asarray(mask, bool)).astype(np.uint16)
                if bad.shape != self.slab_shape:
                    raise ValueError(f"frame {i}: mask shape {bad.shape}, expected {self.slab_shape}")
            ds = f[DATA_PATH]
            ds.resize(i + 1, axis=0)
            ds[i] = data
            if bad is not None:
                ms = f[MASK_PATH]
                ms.resize(i + 1, axis=0)
                ms[i] = bad
        row = i - self._n_flushed
        if self._has_peaks:
            if len(peaks) > self.max_peaks:
                log.warning("frame %d (%s): %d peaks, keeping the strongest %d", i, event, len(peaks), self.max_peaks)
                keep = np.argsort(-peaks.intensity, kind="stable")[: self.max_peaks]
                peaks = peaks.subset(np.sort(keep))
            n = len(peaks)
            for name, values in _peak_columns(peaks).items():
                self._peak_rows[name][row, :n] = values  # the rest of the row is already 0
            self._buf["nPeaks"].append(n)
        self._buf["energy"].append(float(photon_energy_ev))
        self._buf["clen"].append(float(clen_m) * 1e3)
        self._buf["event"].append(str(event))
        self._n += 1
        if self._n - self._n_flushed >= self._flush_every:
            self._flush()

    def _flush(self) -> None:
        k = self._n - self._n_flushed
        if k == 0 or self._file is None:
            return
        f, lo, hi = self._file, self._n_flushed, self._n
        if self._has_peaks:
            width = max(self._buf["nPeaks"], default=0)
            for name, buf in self._peak_rows.items():
                ds = f[f"{PEAK_GROUP}/{name}"]
                ds.resize(hi, axis=0)
                if width:
                    ds[lo:hi, :width] = buf[:k, :width]
                    buf[:k, :width] = 0.0
        for key, path, dtype in (("nPeaks", f"{PEAK_GROUP}/nPeaks", np.int32), ("energy", ENERGY_PATH, np.float64),
                                 ("clen", CLEN_PATH, np.float64), ("event", EVENT_PATH, None)):
            if key == "nPeaks" and not self._has_peaks:
                continue
            ds = f[path]
            ds.resize(hi, axis=0)
            ds[lo:hi] = np.asarray(self._buf[key], dtype=dtype) if dtype is not None else self._buf[key]
            self._buf[key] = []
        self._n_flushed = hi

    # --------------------------------------------------------------- lifecycle
    def __len__(self) -> int:
        return self._n

    def close(self) -> None:
        """Flush, close and rename the temporary file to `path`."""
        if self._file is None:
            return
        if self._n == 0:
            self.abort()
            raise ValueError(f"{self.path}: no frames were appended; nothing written")
        try:
            self._flush()
            self._file.close()
            self._file = None
            self._pending.commit()
        except BaseException:
            self.abort()
            raise

    def abort(self) -> None:
        """Close and delete the temporary file; `path` is left untouched."""
        if self._file is not None and self._file.id.valid:
            self._file.close()
        self._file = None
        self._pending.discard()


def write_peaks_cxi(
    path: str | os.PathLike,
    peak_lists: Sequence[PeakList],
    *,
    photon_energy_ev: float | Sequence[float],
    clen_m: float | Sequence[float],
    events: Sequence[str] | None = None,
    max_peaks: int = 2048,
) -> None:
    """Write a peaks-only CXI file (for `indexamajig --peaks=cxi`). Scalars apply to every frame;
    `events` defaults to ``//i``."""
    n = len(peak_lists)
    energy = np.broadcast_to(np.asarray(photon_energy_ev, dtype=np.float64), (n,))
    clen = np.broadcast_to(np.asarray(clen_m, dtype=np.float64), (n,))
    events = [f"//{i}" for i in range(n)] if events is None else list(events)
    if len(events) != n:
        raise ValueError(f"{len(events)} events for {n} peak lists")
    with CXIWriter(path, max_peaks=max_peaks, write_data=False, write_mask=False) as w:
        for i, peaks in enumerate(peak_lists):
            w.append(peaks=peaks, photon_energy_ev=energy[i], clen_m=clen[i], event=events[i])


class CXIReader:
    """Lazy reader: opens the file once and reads only what is asked for (one image frame, one
    block of peak rows), so files larger than memory are fine.

    With a geometry, data/peak-list paths follow its `data` and `peak_list` header keys (when
    they are plain paths), the image shape is checked against its slab, peaks get their panel
    index, and `frame(i)` builds a `Frame`; without one, peaks have panel -1.
    """

    def __init__(self, path: str | os.PathLike, geometry: "Geometry | None" = None, *, block_rows: int = 256) -> None:
        self.path = Path(path)
        self.geometry = geometry
        self._src = str(self.path)
        self._block_rows = max(1, int(block_rows))
        self._block: tuple[int, dict[str, np.ndarray]] | None = None
        self._geometry_mask: np.ndarray | None = None
        self._extra_files: dict[str, h5py.File] = {}
        if not self.path.exists():
            raise InputError(self._src, None, "file not found")
        try:
            self._f = h5py.File(self.path, "r", rdcc_nbytes=16 * 2**20)
        except OSError as exc:
            raise InputError(self._src, None, f"not a readable HDF5/CXI file ({exc})") from None
        try:
            self._validate()
        except BaseException:
            self._f.close()
            raise

    # -------------------------------------------------------------- validation
    def _header_path(self, key: str, default: str) -> str:
        value = (self.geometry.header.get(key) if self.geometry is not None else None) or default
        return value if value.startswith("/") and "%" not in value else default

    def _err(self, where: str, what: str) -> InputError:
        return InputError(self._src, where, what)

    def _validate(self) -> None:
        f = self._f
        self.data_path = self._header_path("data", DATA_PATH)
        self.peak_group = self._header_path("peak_list", PEAK_GROUP)
        self.has_data = self.data_path in f
        self.has_peaks = f"{self.peak_group}/nPeaks" in f
        if not self.has_data and not self.has_peaks:
            raise self._err(self.data_path, f"missing: the file holds neither image data nor {self.peak_group}/nPeaks")
        n_data = n_peaks = None
        if self.has_data:
            ds = f[self.data_path]
            if not isinstance(ds, h5py.Dataset) or ds.ndim != 3:
                raise self._err(self.data_path, f"expected a 3-D dataset (n_frames, ss, fs), got shape {getattr(ds, 'shape', None)}")
            n_data = ds.shape[0]
            if self.geometry is not None and tuple(ds.shape[1:]) != tuple(self.geometry.slab_shape):
                raise self._err(self.data_path, f"frame shape {tuple(ds.shape[1:])} does not match the geometry slab "
                                                f"{tuple(self.geometry.slab_shape)} ({self.geometry.source})")
            self._mask_specs = self._resolve_masks(ds.shape)
            self.mask_path = self._mask_specs[0][0] if self._mask_specs else None
        else:
            self.mask_path = None
            self._mask_specs = []
        if self.has_peaks:
            g = f[self.peak_group]
            npk = g["nPeaks"]
            if npk.ndim != 1:
                raise self._err(f"{self.peak_group}/nPeaks", f"expected 1-D (n_frames,), got shape {npk.shape}")
            n_peaks = npk.shape[0]
            self.peak_columns = []
            for name, _ in PEAK_COLUMNS:
                if name not in g:
                    if name in REQUIRED_PEAK_COLUMNS:
                        raise self._err(f"{self.peak_group}/{name}", "missing (required by CrystFEL's CXI peak list)")
                    continue
                col = g[name]
                if col.ndim != 2 or col.shape[0] != n_peaks:
                    raise self._err(f"{self.peak_group}/{name}",
                                    f"expected shape ({n_peaks}, max_peaks) to match nPeaks, got {col.shape}")
                self.peak_columns.append(name)
            widths = {g[name].shape[1] for name in self.peak_columns}
            if len(widths) != 1:
                raise self._err(self.peak_group, f"peak columns have different widths {sorted(widths)}")
            self.max_peaks = widths.pop()
        if n_data is not None and n_peaks is not None and n_data != n_peaks:
            raise self._err(f"{self.peak_group}/nPeaks", f"{n_peaks} rows, but {self.data_path} has {n_data} frames")
        self._n = n_data if n_data is not None else n_peaks
        for path in (ENERGY_PATH, CLEN_PATH, EVENT_PATH):
            if path in f and (f[path].ndim != 1 or f[path].shape[0] != self._n):
                raise self._err(path, f"expected shape ({self._n},), got {f[path].shape}")
        self._energy = f[ENERGY_PATH][()] if ENERGY_PATH in f else None
        self._clen_mm = f[CLEN_PATH][()] if CLEN_PATH in f else None

    # ------------------------------------------------------------------ access
    def __len__(self) -> int:
        return self._n

    def _index(self, i: int) -> int:
        i = int(i)
        if i < 0:
            i += self._n
        if not 0 <= i < self._n:
            raise IndexError(f"{self._src}: frame {i} out of range (file has {self._n})")
        return i

    def data(self, i: int) -> np.ndarray:
        """Frame i's slab as float32 (reads that frame only)."""
        if not self.has_data:
            raise self._err(self.data_path, "missing: this file holds peak lists only")
        return np.asarray(self._f[self.data_path][self._index(i)], dtype=np.float32)

    def _mask_keys(self, extra: dict[str, str]) -> tuple[str | None, str | None, str, str]:
        """(mask path, mask file, mask_good, mask_bad) of one panel: its own keys, else the
        geometry's top-level ones."""
        header = self.geometry.header if self.geometry is not None else {}

        def key(k: str, default: str | None) -> str | None:
            return extra.get(k, header.get(k, default))

        return key("mask", None), key("mask_file", None), key("mask_good", "0"), key("mask_bad", "0xffff")

    def _resolve_masks(self, data_shape: tuple[int, ...]) -> list[tuple[str, h5py.Dataset, int, int, list[int] | None]]:
        """The masks to apply: [(path, dataset, good bits, bad bits, panel indices or None = all)].

        CrystFEL semantics: the `.geom`'s `mask` (an HDF5 path, in `mask_file` when given, else in
        the data file), `mask_good`/`mask_bad` (good iff all good bits set and no bad bit set),
        per panel or top level. A `.geom` without `mask` keys uses this layout's own
        /entry_1/data_1/mask (0 = good) when the file has one.
        """
        g = self.geometry
        panels = g.panels if g is not None else []
        groups: dict[tuple, list[int]] = {}
        for k, p in enumerate(panels):
            groups.setdefault(self._mask_keys(p.extra), []).append(k)
        if not groups or all(keys[0] is None for keys in groups):
            if MASK_PATH not in self._f:
                return []
            header = g.header if g is not None else {}
            groups = {(MASK_PATH, None, header.get("mask_good", "0"), header.get("mask_bad", "0xffff")): None}
        out = []
        for (path, mask_file, good, bad), members in groups.items():
            if path is None:
                continue
            try:
                good_bits, bad_bits = int(good, 0), int(bad, 0)
            except ValueError:
                raise InputError(g.source if g is not None else self._src, "mask_good/mask_bad",
                                 f"expected integers such as 0x0000, got {good!r}/{bad!r}") from None
            f = self._f
            where = path
            if mask_file:
                mpath = Path(mask_file)
                if not mpath.is_absolute() and not mpath.exists() and g is not None and g.source:
                    mpath = Path(g.source).parent / mask_file
                try:
                    f = self._extra_files.setdefault(str(mpath), h5py.File(mpath, "r"))
                except OSError as exc:
                    raise InputError(str(mpath), None, f"mask_file named by {g.source} is not a readable HDF5 "
                                                       f"file ({exc})") from None
                where = f"{mpath}:{path}"
            if "%" in path:
                raise InputError(g.source, "mask", f"{path!r}: per-event mask paths are not supported; expected "
                                                   "a plain HDF5 path")
            if path not in f:
                raise InputError(self._src if not mask_file else str(mask_file), path,
                                 f"missing: the geometry ({g.source if g is not None else '-'}) names it as the mask")
            ms = f[path]
            if tuple(ms.shape) not in (tuple(data_shape), tuple(data_shape[1:])):
                raise InputError(self._src, where, f"mask shape {ms.shape}, expected {data_shape} or {data_shape[1:]}")
            out.append((path, ms, good_bits, bad_bits, members))
        return out

    def mask(self, i: int) -> np.ndarray | None:
        """Frame i's good-pixel mask (True = good) from the masks the geometry names (see
        `_resolve_masks`), or None when there is none."""
        if not self._mask_specs:
            return None
        i = self._index(i)
        good = None
        for _, ms, good_bits, bad_bits, members in self._mask_specs:
            raw = np.asarray(ms[i] if ms.ndim == 3 else ms[()]).astype(np.int64)
            ok = ((raw & good_bits) == good_bits) & ((raw & bad_bits) == 0)
            if members is not None:  # only these panels' rectangles follow this mask
                sel = np.isin(self.geometry.panel_map, members)
                ok = np.where(sel, ok, True)
            good = ok if good is None else good & ok
        return good

    def _peak_block(self, i: int) -> tuple[dict[str, np.ndarray], int]:
        """The block of peak rows holding row i (cached), trimmed to the block's widest row."""
        start = (i // self._block_rows) * self._block_rows
        if self._block is None or self._block[0] != start:
            g = self._f[self.peak_group]
            stop = min(start + self._block_rows, self._n)
            counts = np.asarray(g["nPeaks"][start:stop], dtype=np.int64)
            bad = np.nonzero((counts < 0) | (counts > self.max_peaks))[0]
            if bad.size:
                raise self._err(f"{self.peak_group}/nPeaks",
                                f"row {start + bad[0]}: {counts[bad[0]]} peaks, expected 0..{self.max_peaks}")
            width = int(counts.max(initial=0))
            block = {name: g[name][start:stop, :width] for name in self.peak_columns}
            block["nPeaks"] = counts
            self._block = (start, block)
        return self._block[1], i - start

    def peaks(self, i: int) -> PeakList:
        """Frame i's peak list (package convention: no half-pixel shift)."""
        if not self.has_peaks:
            raise self._err(f"{self.peak_group}/nPeaks", "missing: this file holds no peak lists")
        i = self._index(i)
        block, r = self._peak_block(i)
        n = int(block["nPeaks"][r])
        cols = {attr: (block[name][r, :n].astype(np.float64) if name in block else None) for name, attr in PEAK_COLUMNS}
        for name, attr in PEAK_COLUMNS[:3]:  # positions and intensities: every consumer computes with them
            bad = np.flatnonzero(~np.isfinite(cols[attr]))
            if bad.size:
                raise self._err(f"{self.peak_group}/{name} frame {i}",
                                f"peak {int(bad[0])} of {n} is {cols[attr][bad[0]]} ({bad.size} non-finite value(s)); "
                                "expected finite numbers")
        if self.geometry is not None:
            panel = self.geometry.panel_of(cols["fs"], cols["ss"])
        else:
            panel = np.full(n, -1, np.int32)
        return PeakList(panel=panel, **cols)

    def photon_energy_ev(self, i: int) -> float:
        i = self._index(i)
        if self._energy is not None:
            return check_photon_energy(self._energy[i], self._src, f"{ENERGY_PATH} frame {i}")
        if self.geometry is not None and self.geometry.photon_energy_ev is not None:
            return float(self.geometry.photon_energy_ev)
        raise self._err(ENERGY_PATH, "missing, and no photon energy in the geometry")

    def clen_m(self, i: int) -> float:
        """Camera length as CrystFEL takes it: the geometry's number; else the HDF5 path the
        geometry names (mm, per frame or scalar); without a geometry, this layout's
        /LCLS/detector_1/EncoderValue (mm)."""
        i = self._index(i)
        g = self.geometry
        if g is not None:
            if g.clen_m is not None:
                return float(g.clen_m)
            if g.clen_path is not None:
                if g.clen_path not in self._f:
                    raise self._err(g.clen_path, f"missing: the geometry ({g.source}) reads the camera length from it")
                ds = self._f[g.clen_path]
                value = float(ds[()] if ds.ndim == 0 else ds[i]) * 1e-3
                try:  # clen may be a stage position that the panels' coffset turns into a distance
                    g.panel_clen_m(value)
                except InputError as exc:
                    raise self._err(f"{g.clen_path} frame {i}", f"{exc.message} (with the geometry's coffset)") from None
                return value
        if self._clen_mm is not None:
            return check_camera_length(float(self._clen_mm[i]) * 1e-3, self._src, f"{CLEN_PATH} frame {i}")
        raise self._err(CLEN_PATH, "missing, and no camera length in the geometry")

    def event(self, i: int) -> str:
        i = self._index(i)
        if EVENT_PATH in self._f:
            value = self._f[EVENT_PATH][i]
            return value.decode() if isinstance(value, bytes) else str(value)
        return f"//{i}"

    def frame(self, i: int) -> Frame:
        """Frame i with its data, mask (file mask AND the geometry's bad regions), beam state and,
        when the file has peak lists, the stored peaks in `frame.meta["peaks"]`."""
        if self.geometry is None:
            raise ValueError("CXIReader.frame needs a geometry (CXIReader(path, geometry))")
        i = self._index(i)
        if self._geometry_mask is None:
            self._geometry_mask = self.geometry.bad_pixel_mask()
        good = self._geometry_mask
        stored = self.mask(i)
        if stored is not None:
            good = good & stored
        meta: dict[str, Any] = {"source": self._src, "index": i}
        if self.has_peaks:
            meta["peaks"] = self.peaks(i)
        return Frame(data=self.data(i), mask=good, geometry=self.geometry, photon_energy_ev=self.photon_energy_ev(i),
                     clen_m=self.clen_m(i), event=self.event(i), meta=meta)

    def __iter__(self) -> Iterator[Frame]:
        for i in range(self._n):
            yield self.frame(i)

    def close(self) -> None:
        self._block = None
        for extra in self._extra_files.values():
            if extra.id.valid:
                extra.close()
        self._extra_files.clear()
        if self._f.id.valid:
            self._f.close()

    def __enter__(self) -> "CXIReader":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
