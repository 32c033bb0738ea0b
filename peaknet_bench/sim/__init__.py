"""The serial-crystallography simulator with full ground truth (SPEC-physics §2–§6).

`load_experiment(name)` gives a named experiment (`list_experiments()`) or a YAML file;
`Simulator(experiment, seed)` makes frames (`frame(i)`, or iterate: a live frame source);
`simulate_run(...)` writes a CXI run with `.geom`, `.cell` and a truth sidecar.

Public names are resolved lazily (see peaknet_bench.util.lazy) so that the CLI starts fast.
"""

from peaknet_bench.util.lazy import lazy_exports

_EXPORTS = {
    "Experiment": "experiment",
    "FOUNDABLE_RULE": "run",
    "FrameTruth": "simulator",
    "LABEL_RULE": "run",
    "Simulator": "simulator",
    "TruthFile": "truth",
    "experiment_from_dict": "experiment",
    "list_experiments": "experiment",
    "load_experiment": "experiment",
    "run_paths": "run",
    "simulate_run": "run",
    "truth_path_for": "truth",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
