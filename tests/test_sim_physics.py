"""Simulator physics on a small single-panel detector (fast): positions, counts, background, truth."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest

from peaknet_bench.crystal import PredictionConfig, predict_reflections
from peaknet_bench.errors import InputError
from peaknet_bench.geometry import Geometry, Panel, write_geom
from peaknet_bench.sim import Simulator, experiment_from_dict, list_experiments, load_experiment
from peaknet_bench.sim.structure import StructureFactors

PDB_DIR = Path(__file__).resolve().parents[1] / "peaknet_bench" / "sim" / "data"


def small_geometry(n: int = 200, pixel_m: float = 200e-6) -> Geometry:
    """One n×n panel centred on the beam (a flat detector 40 mm wide at the default size)."""
    panel = Panel(name="p0", min_fs=0, max_fs=n - 1, min_ss=0, max_ss=n - 1, corner_x=-n / 2, corner_y=n / 2,
                  fs=(1.0, 0.0, 0.0), ss=(0.0, -1.0, 0.0), res=1.0 / pixel_m, adu_per_photon=1.0, max_adu=1e7)
    return Geometry(panels=[panel], clen_m=0.04, photon_energy_ev=9500.0, source="small")


def small_experiment(tmp_path: Path, **overrides) -> dict:
    """A YAML-like dict for the small detector; `overrides` maps 'section.field' to a value."""
    geom_path = tmp_path / "small.geom"
    if not geom_path.exists():
        write_geom(small_geometry(), geom_path)
    data = {
        "name": "small-test",
        "detector": {"geometry": str(geom_path), "clen_m": 0.04, "adu_per_photon": 1.0, "max_adu": 1e7,
                     "read_noise_adu": 0.1, "dead_fraction": 0.0, "hot_fraction": 0.0, "bad_asics": 0,
                     "beamstop_radius_mm": 1.0, "beamstop_arm_width_mm": 0.0},
        "beam": {"photon_energy_ev": 9500.0, "bandwidth": 1e-3, "pulse_energy_jitter": 0.0},
        "crystal": {"cell": [40.0, 50.0, 60.0, 90.0, 90.0, 90.0], "space_group": "P 21 21 21",
                    "intensities": "wilson", "b_factor": 10.0},
        "crystals": {"spot_photons": 2000.0, "size_um": {"median": 5.0, "sigma_log": 0.0},
                     "profile_radius": {"median": 0.001, "sigma_log": 0.0},
                     "fluence": {"median": 1.0, "sigma_log": 0.0}, "eta": 0.3},
        "run": {"n_frames": 10, "hit_fraction": 1.0, "multi_lattice_fraction": 0.0},
        "background": {"water_photons": 0.0, "diffuse_photons": 0.0, "air_photons": 0.0, "jitter_sigma_log": 0.0},
    }
    for key, value in overrides.items():
        section, name = key.split(".", 1)
        if "." in name:
            name, sub = name.split(".")
            data[section][name][sub] = value
        else:
            data[section][name] = value
    return data


def make_sim(tmp_path: Path, seed: int = 1, **overrides) -> Simulator:
    return Simulator(experiment_from_dict(small_experiment(tmp_path, **overrides), str(tmp_path / "exp.yaml")), seed)


def test_centroids_of_isolated_strong_reflections_match_predictions(tmp_path):
    sim = make_sim(tmp_path)
    n_checked = 0
    for i in range(6):
        photons, truth = sim.expected_photons(i)
        r = truth.reflections
        pos = r.positions()
        dist = np.linalg.norm(pos[:, None] - pos[None], axis=-1) + np.eye(len(r)) * 1e9
        centre = np.hypot(r.fs - 99.5, r.ss - 99.5)
        ok = (dist.min(axis=1) > 12) & (r.intensity > 100) & (r.fs > 8) & (r.fs < 191) & (r.ss > 8) & (r.ss < 191)
        ok &= centre > 12  # away from the beamstop shadow
        for j in np.nonzero(ok)[0]:
            f0, s0 = int(round(r.fs[j])), int(round(r.ss[j]))
            # ±5 px holds the whole spot (σ ≈ 0.5 px here) and none of a neighbour > 12 px away.
            win = photons[s0 - 5 : s0 + 6, f0 - 5 : f0 + 6].astype(np.float64)
            yy, xx = np.mgrid[s0 - 5 : s0 + 6, f0 - 5 : f0 + 6]
            assert (win * xx).sum() / win.sum() == pytest.approx(r.fs[j], abs=0.1)
            assert (win * yy).sum() / win.sum() == pytest.approx(r.ss[j], abs=0.1)
            n_checked += 1
    assert n_checked >= 20


def test_positions_agree_with_crystal_prediction_and_pixel_geometry(tmp_path):
    sim = make_sim(tmp_path)
    truth = sim.frame(0).truth
    crystal = truth.crystals[0]
    config = PredictionConfig(profile_radius=truth.params["crystals"][0]["profile_radius"], bandwidth=1e-3,
                              d_min_a=sim.d_min_a)
    pred = predict_reflections(crystal, sim.geometry, sim.experiment.wavelength_a, clen_m=0.04, config=config)
    assert len(pred) == len(truth.reflections) > 20
    np.testing.assert_array_equal(pred.hkl, truth.reflections.hkl)
    np.testing.assert_allclose(pred.fs, truth.reflections.fs)
    np.testing.assert_allclose(pred.ss, truth.reflections.ss)
    # Independent: the pixel's lab direction is the diffracted ray q_hkl + k0.
    k0 = np.array([0.0, 0.0, 1.0 / sim.experiment.wavelength_a])
    r = truth.reflections
    q_pix = sim.geometry.q_vectors(r.fs, r.ss, sim.experiment.wavelength_a, r.panel, 0.04)
    ray_pix = (q_pix + k0) / np.linalg.norm(q_pix + k0, axis=1, keepdims=True)
    ray_hkl = (truth.q + k0) / np.linalg.norm(truth.q + k0, axis=1, keepdims=True)
    np.testing.assert_allclose(ray_pix, ray_hkl, atol=1e-9)
    np.testing.assert_allclose(truth.q, truth.reflections.hkl @ crystal.astar)


def _mean_count(tmp_path, n=6, **overrides) -> float:
    sim = make_sim(tmp_path, **overrides)
    return float(np.mean([len(sim.expected_photons(i)[1].reflections) for i in range(n)]))


def test_spot_counts_scale_with_profile_radius_resolution_and_cell(tmp_path):
    base = _mean_count(tmp_path)
    assert 30 < base < 1000
    wide = _mean_count(tmp_path, **{"crystals.profile_radius.median": 0.002})
    assert 1.6 < wide / base < 2.4  # shell thickness ∝ R
    low_res = _mean_count(tmp_path, **{"crystal.d_min_a": 4.5})
    assert 0.2 < low_res / base < 0.75  # fewer reflections inside a smaller resolution sphere
    big = _mean_count(tmp_path, **{"crystal.cell": [50.0, 62.5, 75.0, 90.0, 90.0, 90.0]})
    assert 1.5 < big / base < 2.5  # ∝ cell volume (×1.95)


def test_blank_frames_hold_no_reflections(tmp_path):
    sim = make_sim(tmp_path, **{"run.hit_fraction": 0.0, "background.water_photons": 2.0})
    for i in range(4):
        photons, truth = sim.expected_photons(i)
        assert not truth.is_hit and len(truth.reflections) == 0 and not truth.label_mask.any()
        np.testing.assert_array_equal(photons, sim.detector.background * np.float32(truth.params["background_scale"]))


@pytest.mark.parametrize("ring_d", [3.25, 3.6])
def test_water_ring_radius(tmp_path, ring_d):
    sim = make_sim(tmp_path, **{"run.hit_fraction": 0.0, "background.water_photons": 20.0,
                                "background.water_d_a": ring_d, "background.air_photons": 1.0,
                                "background.diffuse_photons": 1.0})
    frame = sim.frame(0)
    det = sim.detector
    good = frame.mask & (det.pol_solid > 0)
    corrected = frame.data[good] / det.pol_solid[good]  # polarisation + solid-angle correction
    q = det.q_abs[good]
    edges = np.linspace(0.15, q.max(), 60)
    idx = np.digitize(q, edges)
    profile = np.array([corrected[idx == b].mean() if np.any(idx == b) else 0 for b in range(1, len(edges))])
    peak_q = 0.5 * (edges[np.argmax(profile)] + edges[np.argmax(profile) + 1])
    assert 3.0 <= 1.0 / peak_q <= 3.7
    assert 1.0 / peak_q == pytest.approx(ring_d, abs=0.08)


@pytest.mark.determinism
def test_frames_are_deterministic_and_independent_of_order(tmp_path):
    sim = make_sim(tmp_path, **{"background.water_photons": 1.0})
    later = [sim.frame(i) for i in range(3)][2]
    fresh = make_sim(tmp_path, **{"background.water_photons": 1.0}).frame(2)
    assert later.data.tobytes() == fresh.data.tobytes()
    assert later.truth.label_mask.tobytes() == fresh.truth.label_mask.tobytes()
    np.testing.assert_array_equal(later.truth.crystals[0].astar, fresh.truth.crystals[0].astar)
    other = make_sim(tmp_path, seed=2, **{"background.water_photons": 1.0}).frame(2)
    assert other.data.tobytes() != fresh.data.tobytes()


def test_foundable_and_label_rules(tmp_path):
    sim = make_sim(tmp_path, **{"background.water_photons": 3.0, "crystals.fluence.sigma_log": 1.5})
    spec = sim.experiment.truth
    seen_found = seen_not = 0
    for i in range(4):
        frame = sim.frame(i)
        t = frame.truth
        r = t.reflections
        ss_i, fs_i = np.rint(r.ss).astype(int), np.rint(r.fs).astype(int)
        expected = (r.snr >= spec.snr_floor) & frame.mask[ss_i, fs_i]
        assert np.all(t.foundable <= expected)
        assert np.all(t.label_mask <= frame.mask)
        # Every found-able reflection labels its own peak region; a frame without any labels none.
        assert np.all(t.label_mask[ss_i[t.foundable], fs_i[t.foundable]])
        assert t.label_mask.any() == bool(t.foundable.any())
        seen_found += int(t.foundable.sum())
        seen_not += int((~t.foundable).sum())
    assert seen_found > 10 and seen_not > 10  # the floor really separates reflections


def test_multi_lattice_frames(tmp_path):
    sim = make_sim(tmp_path, **{"run.multi_lattice_fraction": 1.0})
    t = sim.frame(0).truth
    assert len(t.crystals) == 2
    assert set(np.unique(t.lattice)) == {0, 1}
    for k in (0, 1):
        sel = t.lattice == k
        np.testing.assert_allclose(t.q[sel], t.reflections.hkl[sel] @ t.crystals[k].astar)


def test_iterator_yields_frames_in_order(tmp_path):
    exp = experiment_from_dict(small_experiment(tmp_path), None)
    frames = list(Simulator(exp, seed=4, n_frames=3))
    assert [f.event for f in frames] == ["//0", "//1", "//2"]
    assert all(f.truth.index == i and f.truth.seed == 4 for i, f in enumerate(frames))


@pytest.mark.parametrize(
    "overrides,where",
    [
        ({"crystal.cell": [40.0, 50.0, 60.0, 10.0, 10.0, 170.0], "crystal.space_group": None}, "crystal"),
        ({"crystal.cell": [40.0, -50.0, 60.0, 90.0, 90.0, 90.0]}, "crystal"),
        ({"crystal.cell": [40.0, 50.0, 60.0, 90.0, 90.0, 100.0]}, "crystal"),  # not orthorhombic
        ({"crystals.fluence.median": -1.0}, "crystals.fluence.median"),
        ({"crystals.spot_photons": -5.0}, "crystals.spot_photons"),
        ({"detector.geometry": "no-such-detector"}, "detector.geometry"),
        ({"beam.photon_energy_ev": -9500.0}, "beam.photon_energy_ev"),
        ({"run.hit_fraction": 1.5}, "run.hit_fraction"),
        ({"crystal.cell": [8.0, 8.0, 8.0, 90.0, 90.0, 90.0], "crystal.space_group": None,
          "beam.photon_energy_ev": 2000.0}, "detector"),  # edge d ≈ 10 Å > every spacing of the cell
        ({"crystals.eta": "lots"}, "crystals.eta"),
    ],
)
def test_bad_inputs_give_clear_errors(tmp_path, overrides, where):
    with pytest.raises(InputError) as err:
        experiment_from_dict(small_experiment(tmp_path, **overrides), "exp.yaml")
    assert err.value.where.startswith(where)
    assert err.value.source == "exp.yaml"


def test_unknown_field_and_pdb_without_cryst1(tmp_path):
    data = small_experiment(tmp_path)
    data["beam"]["energy"] = 9500
    with pytest.raises(InputError, match="unknown field"):
        experiment_from_dict(data, "exp.yaml")
    pdb = tmp_path / "nocell.pdb"
    pdb.write_text("".join(l for l in (PDB_DIR / "2LYZ.pdb").read_text().splitlines(True) if not l.startswith("CRYST1")))
    data = small_experiment(tmp_path)
    data["crystal"] = {"pdb": str(pdb), "intensities": "pdb"}
    with pytest.raises(InputError, match="CRYST1"):
        experiment_from_dict(data, "exp.yaml")


def test_named_experiments_describe_facility_runs():
    names = list_experiments()
    assert {"epix10k-lysozyme", "jungfrau4m-thermolysin", "rayonix-orthorhombic", "epix10k-weak"} <= set(names)
    for name in names:
        exp = load_experiment(name)
        assert exp.name == name
        assert 0.3 <= exp.run.hit_fraction <= 0.7 and exp.run.multi_lattice_fraction > 0
        if exp.crystal.pdb is not None:
            assert exp.pdb_path().is_file()  # shipped as package data


def test_structure_factors_symmetry_absences_and_scale():
    from peaknet_bench.crystal import cell_from_pdb

    cell = cell_from_pdb(PDB_DIR / "2LYZ.pdb")
    sf = StructureFactors.from_pdb(PDB_DIR / "2LYZ.pdb", cell, d_min_a=3.0)
    hkl = np.array([[3, 5, 2], [5, 3, -2], [-3, -5, -2], [-5, 3, 2]])  # P 43 21 2 equivalents + Friedel
    values = sf.intensity(hkl)
    assert values[0] > 0
    np.testing.assert_allclose(values, values[0], rtol=1e-4)
    assert sf.intensity(np.array([[0, 0, 1], [0, 0, 2], [1, 0, 0]])).max() < 1e-6 * values[0]  # 4₃ and 2₁ screws
    wil = StructureFactors.wilson(cell, b_factor=20.0, seed=3)
    w = wil.intensity(hkl)
    np.testing.assert_allclose(w, w[0])
    assert not np.allclose(StructureFactors.wilson(cell, 20.0, seed=4).intensity(hkl), w)
    # Normalisation: mean 1 over the 3.5–4.5 Å shell, and Wilson values are exponential there.
    lim = 25
    g = np.stack(np.meshgrid(*[np.arange(-lim, lim + 1)] * 3, indexing="ij"), -1).reshape(-1, 3)
    d = 1 / np.linalg.norm(g @ cell.reciprocal_basis(), axis=1).clip(1e-9)
    shell = g[(d >= 3.5) & (d <= 4.5) & ~cell.is_absent(g)]
    for s in (sf, wil):
        assert s.intensity(shell).mean() == pytest.approx(1.0, rel=1e-6)
    x = wil.intensity(shell)
    assert np.std(x) / np.mean(x) == pytest.approx(1.0, abs=0.15)  # acentric Wilson: sd = mean


def test_experiment_round_trips_through_yaml(tmp_path):
    import yaml

    exp = experiment_from_dict(small_experiment(tmp_path), str(tmp_path / "a.yaml"))
    again = experiment_from_dict(yaml.safe_load(exp.to_yaml()), str(tmp_path / "b.yaml"))
    assert again == exp
    assert copy.deepcopy(exp).to_dict() == exp.to_dict()


def test_hit_and_multi_lattice_fractions_follow_the_run(tmp_path):
    sim = make_sim(tmp_path, **{"run.hit_fraction": 0.4, "run.multi_lattice_fraction": 0.25,
                                "crystal.d_min_a": 6.0})
    n_crystals = np.array([len(sim.expected_photons(i)[1].crystals) for i in range(300)])
    hits = n_crystals > 0
    assert hits.mean() == pytest.approx(0.4, abs=0.08)
    assert (n_crystals[hits] == 2).mean() == pytest.approx(0.25, abs=0.1)


def test_simulator_pickles_for_remote_workers(tmp_path):
    import pickle

    sim = make_sim(tmp_path)
    clone = pickle.loads(pickle.dumps(sim))
    assert clone.frame(1).data.tobytes() == sim.frame(1).data.tobytes()


def test_yaml_file_with_relative_geometry_path(tmp_path):
    import yaml

    data = small_experiment(tmp_path)
    data["detector"]["geometry"] = "small.geom"  # beside the YAML file
    (tmp_path / "exp.yaml").write_text(yaml.safe_dump(data))
    exp = load_experiment(tmp_path / "exp.yaml")
    assert exp.geometry().slab_shape == (200, 200)
    with pytest.raises(InputError, match="not valid YAML"):
        (tmp_path / "bad.yaml").write_text("name: [unclosed")
        load_experiment(tmp_path / "bad.yaml")


def test_integrating_detector_effects_common_mode_edges_and_unmasked_hot_pixels(tmp_path):
    """CSPAD-like readout: a per-frame per-panel offset in whole ADC steps, brighter panel
    edges, hot pixels left out of the mask; the other random streams are unchanged."""
    base = {"run.hit_fraction": 0.0, "detector.read_noise_adu": 0.0, "detector.adu_per_photon": 25.0,
            "detector.adc_step_adu": 1.0, "detector.hot_fraction": 0.002}
    plain = make_sim(tmp_path, **base)
    sim = make_sim(tmp_path, **base, **{"detector.common_mode_adu": 30.0, "detector.edge_gain": 2.0,
                                       "detector.hot_masked": False})
    offsets = []
    for i in range(3):
        a, b = plain.frame(i), sim.frame(i)
        good = a.mask
        diff = (b.data - a.data)[good & (sim.detector.gain_adu == plain.detector.gain_adu)]
        assert np.unique(diff).size == 1 and diff[0] == np.rint(diff[0])  # one panel: one whole-ADU offset
        offsets.append(float(diff[0]))
    assert len(set(offsets)) == 3 and 5.0 < np.std(offsets) + abs(np.mean(offsets))
    g0, g1 = plain.detector.gain_adu, sim.detector.gain_adu
    assert np.allclose(g1[0, 1:-1], 2 * g0[0, 1:-1]) and np.allclose(g1[5:-5, 5:-5], g0[5:-5, 5:-5])
    hot = plain.detector.pixel_class == 2
    assert hot.sum() > 20 and not plain.frame(0).mask[hot].any() and sim.frame(0).mask[hot].all()
    # Defaults are left out of the YAML: experiments published before these fields keep their sha256.
    assert "common_mode_adu" not in plain.experiment.to_yaml() and "common_mode_adu" in sim.experiment.to_yaml()


def test_real_detector_experiments_use_the_real_layouts():
    for name, preset, n_panels in (("pilatus6m-thaumatin", "pilatus6m", 60), ("cspad-lysozyme", "cspad", 64)):
        exp = load_experiment(name)
        assert exp.detector.geometry == preset and Simulator(exp, 0).geometry.n_panels == n_panels
    assert load_experiment("cspad-lysozyme").detector.hot_masked is False
