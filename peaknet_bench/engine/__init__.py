"""The data engine: PeakDiff matching, curation, pseudo-Voigt fitting, labels, Ray runs.

See docs/engine.md. Heavy dependencies (lmfit, ray, h5py, matplotlib) load lazily.

Public names are resolved lazily (see peaknet_bench.util.lazy) so that the CLI starts fast.
"""

from peaknet_bench.util.lazy import lazy_exports

_EXPORTS = {
    "AgreementTolerance": "profile",
    "BatchResult": "run",
    "CurationConfig": "curation",
    "CurationResult": "curation",
    "EngineConfig": "run",
    "EngineJob": "run",
    "FitConfig": "profile",
    "FitResult": "profile",
    "FrameMatch": "peakdiff",
    "PARAM_NAMES": "profile",
    "PeakDiffConfig": "peakdiff",
    "RunOptions": "run",
    "RunReport": "run",
    "RunSummary": "peakdiff",
    "Windows": "profile",
    "assembled_labels": "labels",
    "compare_fits": "profile",
    "curate": "curation",
    "curate_run": "curation",
    "extract_windows": "profile",
    "fit_batched": "profile",
    "fit_lmfit": "profile",
    "iter_output": "run",
    "label_iou": "labels",
    "match_points": "peakdiff",
    "paint_labels": "labels",
    "peakdiff": "peakdiff",
    "process_batch": "run",
    "pseudo_voigt": "profile",
    "read_batch": "run",
    "run_engine": "run",
    "window_labels": "labels",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
