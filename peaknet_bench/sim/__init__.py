"""The serial-crystallography simulator with full ground truth (SPEC-physics §2–§6).

`load_experiment(name)` gives a named experiment (`list_experiments()`) or a YAML file;
`Simulator(experiment, seed)` makes frames (`frame(i)`, or iterate: a live frame source);
`simulate_run(...)` writes a CXI run with `.geom`, `.cell` and a truth sidecar.
"""

from peaknet_bench.sim.experiment import Experiment, experiment_from_dict, list_experiments, load_experiment
from peaknet_bench.sim.run import FOUNDABLE_RULE, LABEL_RULE, run_paths, simulate_run
from peaknet_bench.sim.simulator import FrameTruth, Simulator
from peaknet_bench.sim.truth import TruthFile, truth_path_for

__all__ = [
    "Experiment", "FOUNDABLE_RULE", "FrameTruth", "LABEL_RULE", "Simulator", "TruthFile", "experiment_from_dict",
    "list_experiments", "load_experiment", "run_paths", "simulate_run", "truth_path_for",
]
