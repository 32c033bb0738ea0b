"""`engine run` resumes only over the same input content (issue 20, defect 3), and one
engine run at a time writes into a directory."""

from __future__ import annotations

import json
import os
from dataclasses import replace

import numpy as np
import pytest

from peaknet_bench.engine.run import EngineJob, RunOptions, run_engine
from synthetic_windows import SyntheticRun, SyntheticRunConfig, small_geometry
from peaknet_bench.errors import InputError
from peaknet_bench.util.outdir import OutputClaim


class FileFrames:
    """Frames read from an .npy file of slabs (what a CXI run file is to the real sources):
    its describe() names the file, as the real file sources do."""

    def __init__(self, path: str, synthetic: SyntheticRun) -> None:
        self.path, self.synthetic = path, synthetic

    def __len__(self) -> int:
        return len(np.load(self.path, mmap_mode="r"))

    def frame(self, i: int):
        f = self.synthetic.frame(i)
        return replace(f, data=np.array(np.load(self.path, mmap_mode="r")[i]))

    def describe(self) -> dict:
        return {"source": "npy", "path": self.path}


@pytest.fixture(scope="module")
def synthetic() -> SyntheticRun:
    return SyntheticRun(small_geometry(), seed=3, config=SyntheticRunConfig(n_frames=4))


def _job(path, synthetic):
    return EngineJob(FileFrames(str(path), synthetic), synthetic.found, synthetic.predicted)


def test_resume_refuses_a_replaced_input_file(synthetic, tmp_path):
    frames = tmp_path / "frames.npy"
    np.save(frames, np.stack([synthetic.frame(i).data for i in range(4)]))
    out = tmp_path / "out"
    opts = RunOptions(use_ray=False, batch_size=2, progress=False)
    run_engine(_job(frames, synthetic), out, opts)
    stamp = json.loads((out / "manifest.json").read_text())["inputs"][str(frames)]
    assert stamp["size"] == frames.stat().st_size and len(stamp["sha256"]) == 64

    # Same content, new mtime (a copy, a touch): still the same run, resumed.
    os.utime(frames, ns=(stamp["mtime_ns"] + 10**9, stamp["mtime_ns"] + 10**9))
    rep = run_engine(_job(frames, synthetic), out, opts)
    assert rep.n_batches_resumed == rep.n_batches == 2

    # Same path, same size, other content: refused, naming the file.
    data = np.load(frames)
    data[0] += 1.0
    np.save(frames, data)
    with pytest.raises(InputError, match=r"input file\(s\) changed since that run: .*frames\.npy"):
        run_engine(_job(frames, synthetic), out, opts)


def test_a_second_engine_run_into_a_claimed_directory_is_refused(synthetic, tmp_path):
    frames = tmp_path / "frames.npy"
    np.save(frames, np.stack([synthetic.frame(i).data for i in range(4)]))
    with OutputClaim(tmp_path / "out", "first run"):
        with pytest.raises(InputError, match="another run is writing"):
            run_engine(_job(frames, synthetic), tmp_path / "out", RunOptions(use_ray=False, batch_size=2))


def test_a_frame_with_a_zero_photon_energy_is_named(synthetic, tmp_path):
    class ZeroEnergy(FileFrames):
        def frame(self, i: int):
            f = super().frame(i)
            return replace(f, photon_energy_ev=0.0) if i == 3 else f

    frames = tmp_path / "frames.npy"
    np.save(frames, np.stack([synthetic.frame(i).data for i in range(4)]))
    job = EngineJob(ZeroEnergy(str(frames), synthetic), synthetic.found, synthetic.predicted)
    with pytest.raises(InputError, match=r"frames\.npy: frame 3 \(\S+\) photon energy: expected a positive photon"):
        run_engine(job, tmp_path / "out", RunOptions(use_ray=False, batch_size=2, progress=False))
