"""`peaknet-bench engine run/summary` on files: CXI frames, CXI peaks, CrystFEL stream predictions."""

from __future__ import annotations

import json

import numpy as np
import pytest

from peaknet_bench.cli import main
from peaknet_bench.engine.run import iter_output
from synthetic_windows import SyntheticRun, SyntheticRunConfig, small_geometry


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    from peaknet_bench.geometry import format_geom, write_geom
    from peaknet_bench.io import CXIWriter, write_peaks_cxi
    from peaknet_bench.io.stream import StreamChunk, StreamCrystal, StreamReflections, StreamWriter

    d = tmp_path_factory.mktemp("engine_cli")
    geom = small_geometry()
    src = SyntheticRun(geom, seed=11, config=SyntheticRunConfig(n_frames=5))
    write_geom(geom, d / "det.geom")
    frames = [src.frame(i) for i in range(len(src))]
    found = [src.found(f, i) for i, f in enumerate(frames)]
    with CXIWriter(d / "run.cxi", slab_shape=geom.slab_shape) as w:
        for f in frames:
            w.append(data=f.data, mask=f.mask, photon_energy_ev=f.photon_energy_ev, clen_m=f.clen_m, event=f.event)
    write_peaks_cxi(d / "peaks.cxi", found, photon_energy_ev=9500.0, clen_m=0.1, events=[f.event for f in frames])
    with StreamWriter(d / "run.stream", geometry_text=format_geom(geom), geometry=geom) as sw:
        for i, f in enumerate(frames):
            pred = src.predicted(f, i, found[i])
            n = len(pred)
            crystals = []
            if n:
                refl = StreamReflections(
                    hkl=np.zeros((n, 3), np.int32), intensity=np.zeros(n), sigma=np.ones(n), peak=np.zeros(n),
                    background=np.zeros(n), fs=pred.fs, ss=pred.ss, panel_names=[geom.panels[p].name for p in pred.panel])
                crystals = [StreamCrystal(astar=np.diag([0.02, 0.02, 0.02]), reflections=refl)]
            sw.write_chunk(StreamChunk(filename="run.cxi", event=f.event, serial=i + 1, photon_energy_ev=9500.0,
                                       clen_m=0.1, crystals=crystals, indexed_by="test" if n else "none"))
    return d, src


def test_engine_run_and_summary(files, capsys):
    d, src = files
    out = d / "labels"
    argv = ["engine", "run", "--frames", str(d / "run.cxi"), "--geom", str(d / "det.geom"),
            "--stream", str(d / "run.stream"), "--peaks", str(d / "peaks.cxi"), "-o", str(out),
            "--no-ray", "--batch-size", "2", "--json"]
    assert main(argv) == 0
    s = json.loads(capsys.readouterr().out)
    assert s["n_frames"] == 5 and s["n_batches"] == 3
    assert s["n_selected"] == 4  # frame 4 is blank
    assert s["n_fitted"] == s["n_accepted"] + s["n_rejected"] and s["n_accepted"] > 0.7 * s["n_fitted"]
    assert s["seconds"] > 0
    labels = np.concatenate([b.labels for b in iter_output(out)])
    assert labels.shape == (5,) + src.geometry.slab_shape
    # Running again resumes: every batch is already there.
    assert main(argv) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["n_batches_resumed"] == 3 and again["n_fitted"] == s["n_fitted"]
    assert main(["engine", "summary", str(out), "--plots", str(d / "figs"), "--json"]) == 0
    summ = json.loads(capsys.readouterr().out)
    assert summ["n_selected"] == 4 and summ["precision_median"] > 0.8
    assert (d / "figs" / "peakdiff_counts_pr.png").stat().st_size > 1000


def test_engine_run_bad_input(files, capsys):
    d, _ = files
    rc = main(["engine", "run", "--frames", str(d / "missing.cxi"), "--geom", str(d / "det.geom"),
               "--cell", "x.cell", "-o", str(d / "o"), "--no-ray"])
    assert rc == 1 and "missing.cxi" in capsys.readouterr().err
    rc = main(["engine", "run", "--frames", str(d / "run.cxi"), "--geom", str(d / "det.geom"),
               "-o", str(d / "o"), "--no-ray"])
    assert rc == 1 and "--cell/--stream" in capsys.readouterr().err


def test_engine_run_settings_come_from_the_dataclasses_then_config_then_options(tmp_path):
    """`engine run --config` reads a recipe's `engine` block; options given on the command line win."""
    from peaknet_bench.cli import build_parser
    from peaknet_bench.engine.commands import engine_settings
    from peaknet_bench.engine.settings import engine_config
    from peaknet_bench.peakfind.commands import finder_method

    cfg = tmp_path / "engine.yaml"
    cfg.write_text("engine:\n  curation: {min_precision: 0.5}\n  fit: {window: 7}\n  peakfinder8: {threshold: 50}\n")
    base = ["engine", "run", "--frames", "x.cxi", "--cell", "c.cell", "-o", str(tmp_path / "out")]
    args = build_parser().parse_args([*base, "--config", str(cfg), "--window", "11", "--min-snr", "4"])
    config, pf8 = engine_config(engine_settings(args))
    assert config.curation.min_precision == 0.5 and config.fit.window == 11 and config.curation.min_found == 15
    spec = finder_method(args, pf8_base=pf8)
    assert spec.params["threshold"] == 50 and spec.params["min_snr"] == 4
    plain, pf8 = engine_config(engine_settings(build_parser().parse_args(base)))
    assert plain == type(plain)() and finder_method(build_parser().parse_args(base), pf8_base=pf8).params == \
        type(pf8)().to_dict()
