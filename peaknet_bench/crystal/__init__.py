"""Unit cells, oriented crystals, reciprocal lattice and reflection prediction on stills.

Public names are resolved lazily (see peaknet_bench.util.lazy) so that the CLI starts fast.
"""

from peaknet_bench.util.lazy import lazy_exports

_EXPORTS = {
    "CENTERINGS": "cell",
    "Crystal": "orientation",
    "DEFAULT_MIN_PARTIALITY": "predict",
    "EwaldReflections": "predict",
    "LATTICE_TYPES": "cell",
    "PredictionConfig": "predict",
    "UnitCell": "cell",
    "axis_angle_matrix": "orientation",
    "cell_from_pdb": "files",
    "centering_absent": "cell",
    "ewald_reflections": "predict",
    "format_cell": "files",
    "lattice_from_space_group": "cell",
    "parameters_of_basis": "cell",
    "parse_cell_text": "files",
    "parse_pdb_cryst1": "files",
    "predict_reflections": "predict",
    "quaternion_to_matrix": "orientation",
    "random_rotation": "orientation",
    "read_cell_file": "files",
    "rotation_angle_deg": "orientation",
    "write_cell_file": "files",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
