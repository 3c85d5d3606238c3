"""The 8 symmetries of a square (dihedral group D4) on 2-D arrays, numbered as in the HRM reference.

0 identity, 1-3 rotate 90/180/270 degrees counter-clockwise, 4 flip left-right, 5 flip up-down,
6 transpose, 7 anti-diagonal transpose.
"""

from __future__ import annotations

import numpy as np

DIHEDRAL_INVERSE = (0, 3, 2, 1, 4, 5, 6, 7)


def dihedral(grid: np.ndarray, tid: int) -> np.ndarray:
    """Apply transform ``tid`` (0..7) to the last two axes."""
    g = np.asarray(grid)
    axes = (-2, -1)
    if tid == 0:
        return g.copy()
    if tid in (1, 2, 3):
        return np.rot90(g, k=tid, axes=axes).copy()
    if tid == 4:
        return np.flip(g, axis=-1).copy()
    if tid == 5:
        return np.flip(g, axis=-2).copy()
    if tid == 6:
        return np.swapaxes(g, -2, -1).copy()
    if tid == 7:
        return np.rot90(np.swapaxes(g, -2, -1), k=2, axes=axes).copy()
    raise ValueError(f"dihedral transform id must be 0..7, got {tid}")


def inverse_dihedral(grid: np.ndarray, tid: int) -> np.ndarray:
    return dihedral(grid, DIHEDRAL_INVERSE[tid])
