"""Puzzle grids <-> token sequences, per task. Token 0 is always padding.

Sudoku: 1 = blank, 2..n+1 = digits 1..n (value + 1), vocab n + 2 (11 for 9x9, as the reference).
Maze: 1..5 = ``"# SGo"`` (wall, open, start, goal, path), vocab 6, as the reference.
"""

from __future__ import annotations

import numpy as np

from hrmkit.puzzles import maze as maze_lib


def sudoku_vocab(n: int) -> list[str]:
    return ["<pad>", "."] + [str(d) for d in range(1, n + 1)]


def sudoku_encode(grid: np.ndarray) -> np.ndarray:
    return np.asarray(grid, dtype=np.int16).reshape(*np.shape(grid)[:-2], -1) + 1


def sudoku_decode(tokens: np.ndarray, n: int) -> np.ndarray:
    """Tokens -> digits; padding (0) decodes as a blank."""
    t = np.asarray(tokens, dtype=np.int16).reshape(*np.shape(tokens)[:-1], n, n)
    return np.clip(t - 1, 0, n).astype(np.int8)


MAZE_VOCAB = ["<pad>", "#", " ", "S", "G", "o"]


def maze_encode(grid: np.ndarray) -> np.ndarray:
    return np.asarray(grid, dtype=np.int16).reshape(*np.shape(grid)[:-2], -1) + 1


def maze_decode(tokens: np.ndarray, size: int) -> np.ndarray:
    t = np.asarray(tokens, dtype=np.int16).reshape(*np.shape(tokens)[:-1], size, size)
    return np.clip(t - 1, maze_lib.WALL, maze_lib.PATH).astype(np.int8)


def render_tokens(tokens: np.ndarray, vocab: list[str], grid_shape: tuple[int, int]) -> str:
    """Any task's sequence as a text grid, one character per cell (padding shows as '_')."""
    h, w = grid_shape
    chars = ["_" if t == 0 else vocab[int(t)][0] for t in np.asarray(tokens).ravel()[: h * w]]
    return "\n".join(" ".join(chars[r * w : (r + 1) * w]) for r in range(h))
