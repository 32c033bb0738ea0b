"""Unit cells: parameters, B/A matrices, lattice types, centring and space-group absences.

Conventions follow CrystFEL: the real-space basis has **a** along x and **b** in the xy
plane; the reciprocal basis A* = A⁻ᵀ (no 2π). Centring letters are CrystFEL's: ``R``
means a rhombohedral lattice on rhombohedral axes (primitive, no absences) and ``H`` a
rhombohedral lattice on hexagonal axes (obverse setting, −h + k + l = 3n).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, replace

import numpy as np

from peaknet_bench.errors import InputError
from peaknet_bench.util import detmath as dm

LATTICE_TYPES = (
    "triclinic", "monoclinic", "orthorhombic", "tetragonal", "rhombohedral", "hexagonal", "cubic",
)
CENTERINGS = ("P", "A", "B", "C", "I", "F", "R", "H")
UNIQUE_AXES = ("a", "b", "c", "?", "*")

# Relative tolerance used when checking that parameters fit the declared lattice type.
_LENGTH_RTOL = 1e-3
_ANGLE_TOL_DEG = 0.05


@dataclass(frozen=True)
class UnitCell:
    """A unit cell: lengths in Å, angles in degrees, plus lattice type, centring and space group."""

    a: float
    b: float
    c: float
    alpha: float
    beta: float
    gamma: float
    lattice_type: str = "triclinic"
    centering: str = "P"
    unique_axis: str = "?"
    space_group: str | None = None  # Hermann–Mauguin symbol, e.g. "P 43 21 2"

    def __post_init__(self) -> None:
        for name in ("a", "b", "c"):
            value = float(getattr(self, name))
            if not (math.isfinite(value) and value > 0):
                raise InputError(None, f"cell {name}", f"expected a positive length in Å, got {value!r}")
            object.__setattr__(self, name, value)
        for name in ("alpha", "beta", "gamma"):
            value = float(getattr(self, name))
            if not (math.isfinite(value) and 0.0 < value < 180.0):
                raise InputError(None, f"cell {name}", f"expected an angle in (0, 180) degrees, got {value!r}")
            object.__setattr__(self, name, value)
        if self.lattice_type not in LATTICE_TYPES:
            raise InputError(None, "lattice_type", f"unknown lattice type {self.lattice_type!r}; expected one of {LATTICE_TYPES}")
        if self.centering not in CENTERINGS:
            raise InputError(None, "centering", f"unknown centring {self.centering!r}; expected one of {CENTERINGS}")
        if self.unique_axis not in UNIQUE_AXES:
            raise InputError(None, "unique_axis", f"unknown unique axis {self.unique_axis!r}; expected one of {UNIQUE_AXES}")
        if self._volume_factor() <= 1e-9:
            raise InputError(
                None, "cell angles",
                f"angles {self.alpha}, {self.beta}, {self.gamma} do not describe a real cell",
            )
        if self.space_group is not None:
            _space_group_ops(self.space_group)  # validates the symbol early

    # ----------------------------------------------------------------- basics
    @classmethod
    def from_parameters(cls, params, **kwargs) -> "UnitCell":
        """Build from a sequence (a, b, c, alpha, beta, gamma)."""
        a, b, c, al, be, ga = (float(x) for x in params)
        return cls(a, b, c, al, be, ga, **kwargs)

    @classmethod
    def from_real_basis(cls, basis: np.ndarray, template: "UnitCell | None" = None) -> "UnitCell":
        """Cell parameters of a real-space basis (rows a, b, c); symmetry copied from `template`."""
        params = parameters_of_basis(basis)
        if template is None:
            return cls.from_parameters(params)
        return replace(template, **dict(zip(("a", "b", "c", "alpha", "beta", "gamma"), params)))

    @property
    def parameters(self) -> tuple[float, float, float, float, float, float]:
        return (self.a, self.b, self.c, self.alpha, self.beta, self.gamma)

    def _volume_factor(self) -> float:
        ca, cb, cg = (math.cos(math.radians(x)) for x in (self.alpha, self.beta, self.gamma))
        return 1.0 - ca * ca - cb * cb - cg * cg + 2.0 * ca * cb * cg

    @property
    def volume(self) -> float:
        """Cell volume in Å³."""
        return self.a * self.b * self.c * math.sqrt(self._volume_factor())

    def real_basis(self) -> np.ndarray:
        """(3, 3) rows a, b, c in Å: a along x, b in the xy plane (CrystFEL's standard setting)."""
        al, be, ga = (math.radians(x) for x in (self.alpha, self.beta, self.gamma))
        cx = self.c * math.cos(be)
        cy = self.c * (math.cos(al) - math.cos(be) * math.cos(ga)) / math.sin(ga)
        cz = math.sqrt(max(self.c**2 - cx**2 - cy**2, 0.0))
        return np.array(
            [
                [self.a, 0.0, 0.0],
                [self.b * math.cos(ga), self.b * math.sin(ga), 0.0],
                [cx, cy, cz],
            ]
        )

    def reciprocal_basis(self) -> np.ndarray:
        """(3, 3) rows a*, b*, c* in Å⁻¹ (the B matrix as rows): A* = A⁻ᵀ."""
        return dm.inv3(self.real_basis()).T

    def unique_lengths(self, rtol: float = 1e-3) -> list[float]:
        """Distinct cell-axis lengths (equal axes of tetragonal/hexagonal/cubic cells counted once)."""
        out: list[float] = []
        for length in (self.a, self.b, self.c):
            if not any(abs(length - x) <= rtol * x for x in out):
                out.append(length)
        return out

    # -------------------------------------------------------------- validation
    def check_lattice(self, source: str | None = None) -> None:
        """Raise InputError when the parameters contradict the declared lattice type."""
        a, b, c, al, be, ga = self.parameters

        def eq(x: float, y: float) -> bool:
            return abs(x - y) <= _LENGTH_RTOL * max(x, y)

        def ang(x: float, y: float) -> bool:
            return abs(x - y) <= _ANGLE_TOL_DEG

        lt = self.lattice_type
        rules: dict[str, tuple[bool, str]] = {
            "triclinic": (True, ""),
            "monoclinic": (self._monoclinic_ok(ang), "two angles of 90° (the one about the unique axis free)"),
            "orthorhombic": (ang(al, 90) and ang(be, 90) and ang(ga, 90), "all angles 90°"),
            "tetragonal": (
                ang(al, 90) and ang(be, 90) and ang(ga, 90) and self._equal_pair(eq),
                "all angles 90° and two equal lengths (the unique axis the odd one)",
            ),
            "rhombohedral": (eq(a, b) and eq(b, c) and ang(al, be) and ang(be, ga), "a = b = c and α = β = γ"),
            "hexagonal": (
                self._hexagonal_ok(eq, ang), "two equal lengths at 120° and 90° to the unique axis",
            ),
            "cubic": (eq(a, b) and eq(b, c) and ang(al, 90) and ang(be, 90) and ang(ga, 90), "a = b = c and all angles 90°"),
        }
        ok, expected = rules[lt]
        if not ok:
            raise InputError(source, "cell parameters", f"{self.parameters} do not fit a {lt} lattice: expected {expected}")

    def _axis(self) -> str:
        return self.unique_axis if self.unique_axis in ("a", "b", "c") else ("b" if self.lattice_type == "monoclinic" else "c")

    def _monoclinic_ok(self, ang) -> bool:
        free = {"a": 0, "b": 1, "c": 2}[self._axis()]
        angles = (self.alpha, self.beta, self.gamma)
        return all(ang(x, 90) for i, x in enumerate(angles) if i != free)

    def _equal_pair(self, eq) -> bool:
        u = self._axis()
        lengths = {"a": self.a, "b": self.b, "c": self.c}
        others = [v for k, v in lengths.items() if k != u]
        return eq(others[0], others[1])

    def _hexagonal_ok(self, eq, ang) -> bool:
        u = self._axis()
        angles = {"a": self.alpha, "b": self.beta, "c": self.gamma}
        rest = [v for k, v in angles.items() if k != u]
        return self._equal_pair(eq) and ang(angles[u], 120) and all(ang(x, 90) for x in rest)

    # ---------------------------------------------------------------- absences
    def is_absent(self, hkl: np.ndarray) -> np.ndarray:
        """(n,) bool: reflections forbidden by the lattice centring or the space group.

        hkl = (0, 0, 0) is not a reflection and is reported absent too.
        """
        h = np.asarray(hkl, dtype=np.int64).reshape(-1, 3)
        absent = centering_absent(h, self.centering)
        absent |= np.all(h == 0, axis=1)
        if self.space_group is not None:
            rot, tran = _space_group_ops(self.space_group)
            absent |= _ops_absent(h, rot, tran)
        return absent


def centering_absent(hkl: np.ndarray, centering: str) -> np.ndarray:
    """(n,) bool: reflections removed by a lattice centring (CrystFEL's letters)."""
    h, k, l = (np.asarray(hkl, dtype=np.int64).reshape(-1, 3)[:, i] for i in range(3))
    if centering in ("P", "R"):
        return np.zeros(h.shape, bool)
    if centering == "A":
        return (k + l) % 2 != 0
    if centering == "B":
        return (h + l) % 2 != 0
    if centering == "C":
        return (h + k) % 2 != 0
    if centering == "I":
        return (h + k + l) % 2 != 0
    if centering == "F":
        return ((h + k) % 2 != 0) | ((h + l) % 2 != 0) | ((k + l) % 2 != 0)
    if centering == "H":
        return (-h + k + l) % 3 != 0
    raise InputError(None, "centering", f"unknown centring {centering!r}; expected one of {CENTERINGS}")


@functools.lru_cache(maxsize=64)
def _space_group_ops(symbol: str) -> tuple[np.ndarray, np.ndarray]:
    """All symmetry operations (with centring) of a space group as integer arrays.

    Returns rot (n, 3, 3) and tran (n, 3), both in gemmi's units of 1/24.
    """
    import gemmi

    try:
        sg = gemmi.SpaceGroup(symbol)
    except (ValueError, RuntimeError):
        sg = gemmi.find_spacegroup_by_name(symbol)
        if sg is None:
            raise InputError(None, "space_group", f"unknown space group {symbol!r} (expected a Hermann–Mauguin symbol such as 'P 43 21 2')") from None
    ops = [op for op in sg.operations() if any(t % 24 for t in op.tran)]  # others never extinguish
    rot = np.array([op.rot for op in ops], dtype=np.int64).reshape(-1, 3, 3)
    tran = np.array([op.tran for op in ops], dtype=np.int64).reshape(-1, 3)
    return rot, tran


def _ops_absent(hkl: np.ndarray, rot: np.ndarray, tran: np.ndarray) -> np.ndarray:
    """Systematic absences from symmetry operations (vectorised over reflections × operations).

    A reflection is absent when some operation maps it onto itself (h·R = h) while its phase
    shift h·t is not a whole turn: the structure-factor contributions then cancel.
    """
    den = 24
    n_ops = rot.shape[0]
    if n_ops == 0 or hkl.shape[0] == 0:
        return np.zeros(hkl.shape[0], bool)
    # h·R − 24·h for every operation at once: one (n, 3) @ (3, 3·ops) product.
    delta = rot - den * np.eye(3, dtype=np.int64)[None]
    moved = (hkl @ delta.transpose(1, 0, 2).reshape(3, 3 * n_ops)).reshape(-1, n_ops, 3)
    invariant = ~np.any(moved, axis=2)
    shift = (hkl @ tran.T) % den != 0  # (n, ops)
    return np.any(invariant & shift, axis=1)


def parameters_of_basis(basis: np.ndarray) -> tuple[float, float, float, float, float, float]:
    """(a, b, c, α, β, γ) in Å and degrees of a real-space basis with rows a, b, c."""
    m = np.asarray(basis, dtype=np.float64).reshape(3, 3)
    lengths = dm.norm(m)

    def angle(i: int, j: int) -> float:
        cosv = float(dm.dot(m[i], m[j]) / (lengths[i] * lengths[j]))
        return math.degrees(math.acos(min(1.0, max(-1.0, cosv))))

    return (float(lengths[0]), float(lengths[1]), float(lengths[2]), angle(1, 2), angle(0, 2), angle(0, 1))


def lattice_from_space_group(symbol: str) -> tuple[str, str, str]:
    """(lattice_type, centering, unique_axis) in CrystFEL's terms for a space-group symbol."""
    import gemmi

    try:
        sg = gemmi.SpaceGroup(symbol)
    except (ValueError, RuntimeError):
        raise InputError(None, "space_group", f"unknown space group {symbol!r}") from None
    system = sg.crystal_system_str()
    cen = sg.centring_type()
    hm = sg.hm.split()
    if system == "trigonal":
        if cen == "R" and sg.ext == "R":
            return "rhombohedral", "R", "*"
        return "hexagonal", ("H" if cen == "R" else "P"), "c"
    if system == "monoclinic":
        unique = "b"
        if len(hm) == 4:  # full symbol "P 1 21 1": the non-1 position is the unique axis
            for axis, sym in zip("abc", hm[1:]):
                if sym != "1":
                    unique = axis
        return "monoclinic", cen, unique
    if system in ("tetragonal", "hexagonal"):
        return system, cen, "c"
    return system, cen, "?"
