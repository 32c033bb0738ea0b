"""The default record source: simulator -> peakfinder8 -> data engine -> store record."""

from __future__ import annotations

import numpy as np
import pytest

from peaknet_bench.data.manifest import ExperimentEntry, Recipe
from peaknet_bench.engine.settings import engine_config
from peaknet_bench.errors import InputError


def test_engine_settings_merge_and_validate():
    recipe = Recipe(name="x", version="1", engine={"peakfinder8": {"min_snr": 6.0}, "curation": {"min_found": 10}},
                    experiments=[ExperimentEntry(name="a", frames=1, engine={"peakfinder8": {"threshold": 60.0}})])
    settings = recipe.experiments[0].engine_settings(recipe.engine)
    config, pf8 = engine_config(settings)
    assert pf8.threshold == 60.0 and pf8.min_snr == 6.0 and config.curation.min_found == 10
    with pytest.raises(InputError, match="unknown setting"):
        engine_config({"peakfinder9": {}})
    with pytest.raises(InputError, match="engine"):
        engine_config({"peakfinder8": {"no_such_param": 1}})


@pytest.mark.slow
def test_simulated_record_has_every_field():
    from peaknet_bench.data.simulated_records import simulated_records

    recipe = Recipe(name="x", version="1", engine={"peakfinder8": {"threshold": 6.0, "min_snr": 6.0}, "batch_size": 2},
                    experiments=[ExperimentEntry(name="rayonix-orthorhombic", frames=2, seed=3)])
    out = list(simulated_records(recipe, recipe.experiments[0], ["train", "test"]))
    assert [r.split for _, _, r in out] == ["train", "test"]
    detector, geometry, rec = out[0]
    assert detector == "rayonix-mx340-4x4" and rec.image.shape == geometry.slab_shape
    assert rec.label.dtype == np.uint8 and rec.label.shape == rec.image.shape
    assert set(rec.peaks) == {"found", "predicted", "fitted", "truth"}
    assert "chi2_red" in rec.peaks["fitted"] and "hkl" in rec.peaks["truth"]
    hits = [r for _, _, r in out if r.extra["is_hit"]]
    for r in hits:
        assert len(r.crystals) >= 1 and r.crystals.astar.shape[1:] == (3, 3)


def test_experiment_group_names_the_store_group_and_is_omitted_when_unset():
    plain = ExperimentEntry(name="cspad-lysozyme", frames=1)
    grouped = ExperimentEntry(name="cspad-thermolysin", frames=1, group="cspad-6adu")
    # Unset, the field is absent from the dump: older recipes' provenance (and their
    # datasets' checksums) stay as they were.
    assert "group" not in plain.model_dump(mode="json")
    assert grouped.model_dump(mode="json")["group"] == "cspad-6adu"
    assert ExperimentEntry.model_validate(grouped.model_dump(mode="json")) == grouped


@pytest.mark.slow
def test_two_gains_of_one_detector_go_to_two_groups():
    from peaknet_bench.data.simulated_records import simulated_records

    recipe = Recipe(name="x", version="1", engine={"finder": "dispersion", "batch_size": 1},
                    experiments=[ExperimentEntry(name="cspad-thermolysin", frames=1, seed=3, group="cspad-6adu",
                                                 splits={"train": 1.0})])
    (detector, geometry, rec), = simulated_records(recipe, recipe.experiments[0], ["train"])
    assert detector == "cspad-6adu" and rec.image.shape == geometry.slab_shape
    assert {p.adu_per_photon for p in geometry.panels} == {6.0}
