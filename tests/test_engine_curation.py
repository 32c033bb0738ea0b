"""Curation policy: selection and the reason recorded for each rejection."""

from __future__ import annotations

import numpy as np

from peaknet_bench.engine.curation import CurationConfig, curate, curate_run
from peaknet_bench.engine.peakdiff import RunSummary, peakdiff
from peaknet_bench.frame import PeakList


def test_default_policy_reasons():
    n_found = np.array([20, 20, 5, 0, 40])
    n_pred = np.array([30, 30, 30, 30, 10])
    n_match = np.array([18, 10, 5, 0, 36])
    res = curate(n_found, n_pred, n_match)
    assert res.selected.tolist() == [True, False, False, False, False]
    assert res.reasons[0] == ""
    assert res.reasons[1] == "precision 0.5 < 0.8"
    assert res.reasons[2] == "found 5 < 15"
    assert res.reasons[3] == "precision undefined (empty set); found 0 < 15"
    assert res.reasons[4] == "predicted 10 < 15"
    assert res.n_selected == 1
    assert res.reason_counts() == {"precision": 2, "found": 2, "predicted": 1}


def test_thresholds_are_inclusive_and_configurable():
    cfg = CurationConfig(min_precision=0.5, min_found=2, min_predicted=None, max_found=10, min_recall=0.2, min_matched=2)
    res = curate([2, 11, 4, 4], [100, 20, 5, 4], [1, 11, 2, 2], cfg)
    assert res.selected.tolist() == [False, False, True, True]
    assert res.reasons[0] == "recall 0.01 < 0.2; matched 1 < 2"
    assert res.reasons[1] == "found 11 > 10"


def test_disabled_rules_select_everything():
    cfg = CurationConfig(min_precision=None, min_found=None, min_predicted=None)
    assert curate([0, 3], [0, 0], [0, 0], cfg).selected.all()


def test_curate_run_from_peakdiff():
    def pl(n, off):
        return PeakList(fs=np.arange(n) * 10.0 + off, ss=np.zeros(n), panel=np.zeros(n, int), intensity=np.ones(n))

    good = peakdiff(pl(20, 0.0), pl(25, 0.5))
    bad = peakdiff(pl(20, 0.0), pl(25, 5.0))
    res = curate_run(RunSummary.from_matches([good, bad]))
    assert res.selected.tolist() == [True, False]
    assert res.reasons[1].startswith("precision 0 < 0.8")
