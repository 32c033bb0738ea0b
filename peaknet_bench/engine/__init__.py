"""The data engine: PeakDiff matching, curation, pseudo-Voigt fitting, labels, Ray runs.

See docs/engine.md. Heavy dependencies (lmfit, ray, h5py, matplotlib) load lazily.
"""

from peaknet_bench.engine.curation import CurationConfig, CurationResult, curate, curate_run
from peaknet_bench.engine.labels import assembled_labels, label_iou, paint_labels, window_labels
from peaknet_bench.engine.peakdiff import FrameMatch, PeakDiffConfig, RunSummary, match_points, peakdiff
from peaknet_bench.engine.profile import (
    PARAM_NAMES, AgreementTolerance, FitConfig, FitResult, Windows, compare_fits, extract_windows,
    fit_batched, fit_lmfit, pseudo_voigt,
)
from peaknet_bench.engine.run import (
    BatchResult, EngineConfig, EngineJob, RunOptions, RunReport, iter_output, process_batch, read_batch,
    run_engine,
)

__all__ = [
    "PARAM_NAMES", "AgreementTolerance", "BatchResult", "CurationConfig", "CurationResult", "EngineConfig",
    "EngineJob", "FitConfig", "FitResult", "FrameMatch", "PeakDiffConfig", "RunOptions", "RunReport",
    "RunSummary", "Windows", "assembled_labels", "compare_fits", "curate", "curate_run", "extract_windows",
    "fit_batched", "fit_lmfit", "iter_output", "label_iou", "match_points", "paint_labels", "peakdiff",
    "process_batch", "pseudo_voigt", "read_batch", "run_engine", "window_labels",
]
