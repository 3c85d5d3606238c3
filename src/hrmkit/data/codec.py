"""Grids of small non-negative values <-> token sequences. Token 0 is always padding, so a cell
value v is token v + 1 (the reference's encoding for Sudoku and mazes)."""

from __future__ import annotations

import numpy as np


def grid_encode(grid: np.ndarray) -> np.ndarray:
    """[..., H, W] values -> [..., H*W] tokens (value + 1)."""
    return np.asarray(grid, dtype=np.int16).reshape(*np.shape(grid)[:-2], -1) + 1


def grid_decode(tokens: np.ndarray, shape: tuple[int, int], low: int, high: int) -> np.ndarray:
    """[..., H*W] tokens -> [..., H, W] values clipped to low..high (padding decodes as ``low``)."""
    t = np.asarray(tokens, dtype=np.int16).reshape(*np.shape(tokens)[:-1], *shape)
    return np.clip(t - 1, low, high).astype(np.int8)
