"""European XFEL runs through `open_frames` (extra-data writes the mock runs)."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from peaknet_bench.errors import InputError
from peaknet_bench.geometry import Geometry, Panel
from peaknet_bench.io.frames import open_frames

make_examples = pytest.importorskip("extra_data.tests.make_examples")


def _agipd_geometry() -> Geometry:
    """16 AGIPD modules of 512 (ss) x 128 (fs) stacked in the slab, as CrystFEL's `dim1 = m` files."""
    return Geometry(panels=[Panel(f"p{m}", 0, 127, 512 * m, 512 * m + 511, corner_x=-64 + 3 * m, corner_y=256,
                                  ss=(0, -1, 0), res=5000.0) for m in range(16)],
                    clen_m=0.12, photon_energy_ev=9300.0, source="agipd-test")


def test_agipd_run_frames_are_pulses(tmp_path: Path) -> None:
    run = tmp_path / "r9015"
    run.mkdir()
    make_examples.make_agipd1m_run(str(run))
    module3 = next(run.glob("RAW-R9015-AGIPD03-*.h5"))
    with h5py.File(module3, "a") as f:
        ds = f["INSTRUMENT/SPB_DET_AGIPD1M-1/DET/3CH0:xtdf/image/data"]
        ds[65, 0, 10, 20] = 1234  # train 1, pulse 1, analogue plane
        ds[65, 1, 10, 20] = 7  # the digital-gain plane is not the signal
    frames = open_frames(run, geom=_agipd_geometry())
    assert len(frames) == 100 * 64
    f = frames.frame(65)
    assert f.meta["reader"] == "euxfel" and (f.meta["train_id"], f.meta["pulse"]) == (10001, 1)
    assert f.data.shape == (16 * 512, 128) and f.data[3 * 512 + 10, 20] == 1234 and f.data.sum() == 1234
    assert f.clen_m == 0.12 and f.photon_energy_ev == 9300.0


def test_jungfrau_run_frames_are_cells_and_need_a_geometry(tmp_path: Path) -> None:
    run = tmp_path / "r0012"
    run.mkdir()
    make_examples.make_jungfrau_run(str(run))
    frames = open_frames(run)
    with pytest.raises(InputError, match="euxfel files carry no detector geometry; pass --geom"):
        frames.frame(0)
    g = Geometry(panels=[Panel(f"m{m}", 0, 1023, 512 * m, 512 * m + 511, corner_x=-512, corner_y=256,
                               ss=(0, -1, 0), res=1 / 75e-6) for m in range(8)], clen_m=0.1, photon_energy_ev=12000.0)
    frames = open_frames(run, geom=g)
    assert len(frames) == 100 * 16
    f = frames.frame(17)
    assert (f.meta["train_id"], f.meta["pulse"]) == (10001, 1) and f.data.shape == (4096, 1024)
