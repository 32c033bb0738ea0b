"""Reflection intensities |F(hkl)|²: from an atomic model (gemmi) or Wilson statistics.

Both modes are normalised the same way, so an experiment's `spot_photons` means the same
thing for both: the mean |F|² of the reflections with 3.5 Å ≤ d ≤ 4.5 Å is 1.

* Atomic model: gemmi's X-ray density calculator puts the model (with its space-group
  mates) on a grid, an FFT gives F for every hkl of the grid (so any hkl, not only the
  asymmetric unit, is one array lookup), gemmi's blur is undone, and a flat bulk-solvent
  correction (Babinet: F·(1 − k_sol·exp(−B_sol·s²/4))) tames the low-resolution terms.
* Wilson: |F|² = Σ(q)·X with X ~ Exp(1) (acentric Wilson statistics) and Σ(q) =
  exp(−B·|q|²/2). X comes from a hash of the *symmetry-canonical* hkl and the crystal
  seed, so symmetry mates and Friedel mates agree and a reflection keeps its intensity
  across every frame of a run — it is one crystal form, not noise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from peaknet_bench.crystal import UnitCell
from peaknet_bench.errors import InputError
from peaknet_bench.util import detmath as dm

_NORM_SHELL_A = (3.5, 4.5)


def _point_group_rotations(space_group: str | None) -> np.ndarray:
    """(m, 3, 3) integer rotations acting on hkl (as row vectors), with Friedel mates."""
    import gemmi

    if space_group is None:
        rots = [np.eye(3, dtype=np.int64)]
    else:
        sg = gemmi.SpaceGroup(space_group)
        rots = sorted({tuple(np.array(op.rot, dtype=np.int64).ravel() // 24) for op in sg.operations()})
        rots = [np.array(r, dtype=np.int64).reshape(3, 3) for r in rots]
    rots = np.stack(rots)
    return np.concatenate([rots, -rots])


def _splitmix(x: np.ndarray) -> np.ndarray:
    """Vectorised splitmix64 finaliser on uint64 arrays (wrapping arithmetic)."""
    x = x.astype(np.uint64)
    with np.errstate(over="ignore"):
        x = x + np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


@dataclass
class StructureFactors:
    """|F(hkl)|² for one crystal form, normalised to mean 1 in the 3.5–4.5 Å shell."""

    cell: UnitCell
    mode: str  # "pdb" or "wilson"
    b_factor: float  # extra overall B (Å²) applied on top of the model / Wilson fall-off
    seed: int = 0
    _table: np.ndarray | None = None  # full reciprocal grid of |F|² (pdb mode)
    _rotations: np.ndarray | None = None  # wilson mode symmetry
    _scale: float = 1.0

    @classmethod
    def from_pdb(cls, path: str | Path, cell: UnitCell, d_min_a: float, b_factor: float = 0.0,
                 k_sol: float = 0.8, b_sol: float = 200.0) -> StructureFactors:
        """Calculate |F|² from an atomic model to `d_min_a` (gemmi density + FFT)."""
        import gemmi

        try:
            st = gemmi.read_structure(str(path))
        except (RuntimeError, ValueError, OSError) as exc:
            raise InputError(str(path), None, f"cannot read the atomic model: {exc}") from None
        if len(st) == 0 or st[0].count_atom_sites() == 0:
            raise InputError(str(path), None, "the atomic model has no atoms")
        st.setup_entities()
        st.remove_hydrogens()
        dc = gemmi.DensityCalculatorX()
        dc.d_min = float(d_min_a)
        dc.rate = 1.5
        dc.set_refmac_compatible_blur(st[0])
        dc.set_grid_cell_and_spacegroup(st)
        dc.put_model_density_on_grid(st[0])  # includes the space-group mates
        fgrid = gemmi.transform_map_to_f_phi(dc.grid, half_l=False)
        f = np.array(fgrid, copy=True)
        shape = f.shape
        # Undo the blur and apply Babinet bulk solvent + extra B on the whole grid at once.
        h, k, l = (np.fft.fftfreq(n, 1.0 / n) for n in shape)
        g = dm.matmul(cell.reciprocal_basis(), cell.reciprocal_basis().T)  # reciprocal metric tensor
        h, k, l = h[:, None, None], k[None, :, None], l[None, None, :]
        s2 = g[0, 0] * h * h + g[1, 1] * k * k + g[2, 2] * l * l + 2 * (g[0, 1] * h * k + g[0, 2] * h * l + g[1, 2] * k * l)
        factor = dm.exp((dc.blur - b_factor) * s2 / 4.0) * (1.0 - k_sol * dm.exp(-b_sol * s2 / 4.0))
        table = ((f.real * f.real + f.imag * f.imag) * factor**2).astype(np.float32)  # a lookup table: float32 halves its size
        table[s2 > 1.0 / d_min_a**2] = 0.0
        out = cls(cell=cell, mode="pdb", b_factor=b_factor, _table=table)
        out._normalise()
        return out

    @classmethod
    def wilson(cls, cell: UnitCell, b_factor: float, seed: int) -> StructureFactors:
        """Wilson-random |F|², fixed per reflection by `seed` and the space-group symmetry."""
        out = cls(cell=cell, mode="wilson", b_factor=b_factor, seed=int(seed),
                  _rotations=_point_group_rotations(cell.space_group))
        out._normalise()
        return out

    # ------------------------------------------------------------------ lookup
    def intensity(self, hkl: np.ndarray) -> np.ndarray:
        """(n,) normalised |F|² of integer reflections `hkl` (n, 3)."""
        hkl = np.asarray(hkl, dtype=np.int64).reshape(-1, 3)
        if self.mode == "pdb":
            t = self._table
            h, k, l = (hkl[:, i] for i in range(3))
            inside = (np.abs(h) <= t.shape[0] // 2) & (np.abs(k) <= t.shape[1] // 2) & (np.abs(l) <= t.shape[2] // 2)
            out = np.zeros(hkl.shape[0])
            out[inside] = t[h[inside] % t.shape[0], k[inside] % t.shape[1], l[inside] % t.shape[2]]
            return out * self._scale
        s2 = _inv_d2(self.cell, hkl)
        return self._wilson_random(hkl) * dm.exp(-self.b_factor * s2 / 2.0) * self._scale

    def _wilson_random(self, hkl: np.ndarray) -> np.ndarray:
        # Canonical representative of each reflection's equivalents: the lexicographic max.
        eq = np.einsum("ni,mij->nmj", hkl, self._rotations)  # (n, m, 3)
        offset = 1 << 20
        key = ((eq[..., 0] + offset) << 42) | ((eq[..., 1] + offset) << 21) | (eq[..., 2] + offset)
        canon = key.max(axis=1).astype(np.uint64)
        bits = _splitmix(canon ^ _splitmix(np.full(canon.shape, self.seed, dtype=np.uint64)))
        u = ((bits >> np.uint64(11)).astype(np.float64) + 0.5) / float(1 << 53)
        return -dm.log(u)

    def _normalise(self) -> None:
        """Scale so that the mean over allowed reflections in the 3.5–4.5 Å shell is 1."""
        d_lo, d_hi = _NORM_SHELL_A
        real = self.cell.real_basis()
        lim = np.floor(dm.norm(real) / d_lo).astype(np.int64)
        grids = np.meshgrid(*[np.arange(-n, n + 1) for n in lim], indexing="ij")
        hkl = np.stack([g.ravel() for g in grids], axis=1)
        d = 1.0 / np.sqrt(np.maximum(_inv_d2(self.cell, hkl), 1e-30))
        hkl = hkl[(d >= d_lo) & (d <= d_hi)]
        hkl = hkl[~self.cell.is_absent(hkl)]
        self._scale = 1.0
        mean = float(np.mean(self.intensity(hkl))) if len(hkl) else 0.0
        if not (mean > 0 and math.isfinite(mean)):
            raise InputError(None, "crystal", "structure factors vanish in the 3.5–4.5 Å shell; check the model")
        self._scale = 1.0 / mean


def _inv_d2(cell: UnitCell, hkl: np.ndarray) -> np.ndarray:
    """1/d² of integer reflections, from the cell's reciprocal basis."""
    q = dm.matmul(np.asarray(hkl, dtype=np.float64), cell.reciprocal_basis())
    return dm.dot(q, q)
