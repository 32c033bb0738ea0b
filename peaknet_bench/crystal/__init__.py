"""Unit cells, oriented crystals, reciprocal lattice and reflection prediction on stills."""

from peaknet_bench.crystal.cell import (
    CENTERINGS,
    LATTICE_TYPES,
    UnitCell,
    centering_absent,
    lattice_from_space_group,
    parameters_of_basis,
)
from peaknet_bench.crystal.files import (
    cell_from_pdb,
    format_cell,
    parse_cell_text,
    parse_pdb_cryst1,
    read_cell_file,
    write_cell_file,
)
from peaknet_bench.crystal.orientation import (
    Crystal,
    axis_angle_matrix,
    quaternion_to_matrix,
    random_rotation,
    rotation_angle_deg,
)
from peaknet_bench.crystal.predict import (
    DEFAULT_MIN_PARTIALITY,
    EwaldReflections,
    PredictionConfig,
    ewald_reflections,
    predict_reflections,
)

__all__ = [
    "CENTERINGS", "DEFAULT_MIN_PARTIALITY", "LATTICE_TYPES", "Crystal", "EwaldReflections",
    "PredictionConfig", "UnitCell", "axis_angle_matrix", "cell_from_pdb", "centering_absent",
    "ewald_reflections", "format_cell", "lattice_from_space_group", "parameters_of_basis",
    "parse_cell_text", "parse_pdb_cryst1", "predict_reflections", "quaternion_to_matrix",
    "random_rotation", "read_cell_file", "rotation_angle_deg", "write_cell_file",
]
