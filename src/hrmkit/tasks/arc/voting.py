"""Voting over augmented variants, shared by evaluation and ``hrm solve``: predictions cropped to grids, one vote
per grid, candidates ranked by votes, then by mean sigmoid(q_halt), then by their bytes (so the order never
depends on arrival order or on the number of processes)."""

from __future__ import annotations

import numpy as np

from hrmkit.tasks.arc.grids import COLOUR0, NUM_COLOURS

Votes = dict[bytes, list[float]]  # candidate grid key -> [vote count, sum of sigmoid(q_halt)]


def crop_batch(tokens: np.ndarray, canvas: int) -> list[np.ndarray]:
    """``grids.crop`` on every row of [B, canvas * canvas] at once (the same rule, vectorised over the batch)."""
    t = np.asarray(tokens).reshape(-1, canvas, canvas)
    colour = (t >= COLOUR0) & (t < COLOUR0 + NUM_COLOURS)
    run = np.where(colour.all(2), canvas, np.argmin(colour, axis=2))  # [B, canvas] leading colour cells per row
    width = np.minimum.accumulate(run, axis=1)
    area = width * np.arange(1, canvas + 1)
    rows = np.argmax(area, axis=1) + 1
    out = []
    for b in range(len(t)):
        r = int(rows[b])
        w = int(width[b, r - 1])
        out.append((t[b, :r, :w] - COLOUR0).astype(np.uint8) if r * w else np.zeros((0, 0), np.uint8))
    return out


def key_to_grid(key: bytes) -> np.ndarray:
    """The inverse of ``grids.grid_key``."""
    h, w = np.frombuffer(key[:4], dtype=np.int16)
    return np.frombuffer(key[4:], dtype=np.uint8).reshape(int(h), int(w))


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=np.float64)))


def ranked(votes: Votes) -> list[tuple[bytes, int, float]]:
    """(grid key, votes, mean sigmoid(q_halt)), best first: most votes, then the higher mean confidence, then
    the smaller key (its shape bytes, then its cells), a deterministic last resort."""
    items = [(key, int(c), s / c) for key, (c, s) in votes.items()]
    return sorted(items, key=lambda x: (-x[1], -x[2], x[0]))


def add_vote(votes: Votes, key: bytes, p_halt: float) -> None:
    entry = votes.get(key)
    if entry is None:
        votes[key] = [1, p_halt]
    else:
        entry[0] += 1
        entry[1] += p_halt
