"""European XFEL runs (AGIPD, Jungfrau, LPD, DSSC, ... raw or corrected), read with `extra-data`.

A run is a directory of `RAW-*`/`CORR-*` HDF5 files (or one such file). Each multi-module
detector frame (one pulse of a train; one memory cell for Jungfrau) becomes one `Frame` whose
slab stacks the modules along ss — the (module * ss, fs) layout CrystFEL's EuXFEL geometries
describe with `dim1 = <module>` (see `geometry.crystfel_geom`). EuXFEL files carry no detector
geometry, photon energy or camera length: `--geom` is required. Raw AGIPD data keep the
digital-gain plane out (`data_gain` index 0 is the analogue signal). Corrected data's
`image.mask` (non-zero = bad) is applied when present; NaNs are bad pixels anyway.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from peaknet_bench.errors import InputError
from peaknet_bench.io.frames import HDF5_MAGIC, FrameReader, register_reader

_KEYS = ("image.data", "data.adc")  # XTDF detectors, Jungfrau


def _is_euxfel_file(path: Path) -> bool:
    import h5py

    try:
        with h5py.File(path, "r") as f:
            return "METADATA" in f and "INSTRUMENT" in f and ("INDEX" in f)
    except OSError:
        return False


@register_reader
class EuXFELReader(FrameReader):
    """Frames of a European XFEL run directory or file (needs `pip install extra-data`)."""

    name = "euxfel"
    extensions = ()

    @classmethod
    def sniff(cls, path: str, head: bytes) -> bool:
        p = Path(path)
        if p.is_dir():
            files = sorted(p.glob("RAW-*.h5")) or sorted(p.glob("CORR-*.h5"))
            return bool(files) and _is_euxfel_file(files[0])
        return head.startswith(HDF5_MAGIC) and _is_euxfel_file(p)

    def __init__(self, path: str, geometry: Any | None = None) -> None:
        super().__init__(path, geometry)
        self._det = None
        self._train: tuple[int, np.ndarray] | None = None

    def _open(self):
        if self._det is None:
            try:
                from extra_data import H5File, RunDirectory
                from extra_data.components import identify_multimod_detectors
            except ImportError:
                raise InputError(self.path, None, "a European XFEL run; reading it needs the extra-data package "
                                                  "(pip install extra-data)") from None
            try:
                run = RunDirectory(self.path) if Path(self.path).is_dir() else H5File(self.path)
                found = sorted(identify_multimod_detectors(run), key=lambda d: d[0])
            except Exception as exc:  # extra-data raises many kinds on damaged runs
                raise InputError(self.path, None, f"not a readable European XFEL run ({type(exc).__name__}: {exc})") from None
            if len(found) != 1:
                names = [d[0] for d in found]
                raise InputError(self.path, "detector", f"{len(found)} multi-module detectors {names}; expected one")
            name, cls = found[0]
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # "falling back to raw data"
                det = cls(run)
            key = next((k for k in _KEYS if k in det), None)
            if key is None:
                raise InputError(self.path, name, f"no {' or '.join(_KEYS)} data; expected detector images")
            self._name, self._det, self._kd = name, det, det[key]
            self._mask_kd = det["image.mask"] if "image.mask" in det else None
            dims = list(self._kd.dimensions)
            if "train_pulse" in dims:  # XTDF: frames are pulses; count them per train
                counts = np.asarray(det.frame_counts.values, np.int64)
            else:  # Jungfrau: (module, trainId, cell, ss, fs)
                counts = np.full(len(det.train_ids), self._kd.shape[2] if len(self._kd.shape) == 5 else 1, np.int64)
            self._starts = np.concatenate([[0], np.cumsum(counts)])
            self._train_ids = np.asarray(det.train_ids)
        return self._det

    def __len__(self) -> int:
        self._open()
        return int(self._starts[-1])

    def _train_array(self, t: int) -> np.ndarray:
        """(modules, frames of the train, ss, fs) of train index t (cached: frames come in order)."""
        if self._train is None or self._train[0] != t:
            from extra_data import by_index

            arr = np.asarray(self._kd.select_trains(by_index[t:t + 1]).ndarray())
            dims = list(self._kd.dimensions)
            if "data_gain" in dims:  # raw AGIPD: (module, pulse, gain, ss, fs); plane 0 is the signal
                arr = arr[:, :, 0]
            elif arr.ndim == 5:  # Jungfrau: (module, 1 train, cell, ss, fs)
                arr = arr[:, 0]
            mask = None
            if self._mask_kd is not None:
                mask = np.asarray(self._mask_kd.select_trains(by_index[t:t + 1]).ndarray()) == 0
            self._train = (t, arr, mask)
        return self._train[1], self._train[2]

    def read(self, i: int):
        self._open()
        t = int(np.searchsorted(self._starts, i, side="right") - 1)
        k = i - int(self._starts[t])
        arr, mask = self._train_array(t)
        frame = arr[:, k]  # (modules, ss, fs)
        n_mod, n_ss, n_fs = frame.shape
        good = None if mask is None else mask[:, k].reshape(n_mod * n_ss, n_fs)
        meta = {"event": f"//{i}", "train_id": int(self._train_ids[t]), "pulse": k, "detector": self._name}
        return frame.reshape(n_mod * n_ss, n_fs).astype(np.float32), good, meta

    def close(self) -> None:
        self._det = None
        self._train = None
