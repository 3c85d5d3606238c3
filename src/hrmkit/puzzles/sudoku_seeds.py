"""Extreme 9x9 Sudoku grown from known hard puzzles by short walks of {-1+1} moves.

Why: hard puzzles are far too rare to find from scratch (random minimal puzzles rate a median of 0-1 backtracks);
the paper's Sudoku-Extreme was grown by vicinity search around published hard lists. The seeds are the 376 puzzles
of the public "hardest sudokus" database of June 2011 (``data/sudoku-hardest-110626.txt``, the same list as tdoku's
``puzzles6_forum_hardest_1106``; one puzzle a line, then its name, poster and ratings).

A move removes one clue and adds one whose value is the value at its cell in exactly one solution of the relaxed
puzzle, so the puzzle stays unique and keeps its clue count. Most such moves make the puzzle
easy (measured: 5-move walks of unfiltered moves rate a median of 2 backtracks), so a move is taken only when the
median rating over symmetric copies stays at least ``MIN_RATING``.

Leakage by vicinity: seeds within ``FAMILY_CELLS`` cells of each other (as written) form one family (single
linkage); train and test draw from disjoint sets of families, and a walk of
``WALK_MOVES`` moves changes at most ``2 * WALK_MOVES`` cells, so walks of different families stay apart.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable
from pathlib import Path

import numpy as np

from hrmkit.puzzles.sudoku_search import SearchTables, canonical_grid, search

# How hard a flat puzzle is (median backtracks over random symmetric copies, drawn with the generator given):
# handed in by the caller (``puzzles.sudoku.copies_rater``), so this module needs nothing of puzzles/sudoku.py.
Rater = Callable[[np.ndarray, np.random.Generator], float]

SEED_FILE = Path(__file__).parent / "data" / "sudoku-hardest-110626.txt"
FAMILY_CELLS = 20  # seeds this close (cells that differ) share a family
WALK_MOVES = 5  # 2 * 5 cells per walk, twice, stays below the FAMILY_CELLS + 1 between families
RELAXED_SOLUTIONS = 32  # solutions of the relaxed puzzle looked at (more only cost time: candidates are checked)
MIN_RATING = 20.0  # a move is kept when the median backtracks over RATING_COPIES symmetric copies stays this high
CANDIDATES_PER_REMOVAL = 4


@functools.cache
def load_seeds() -> np.ndarray:
    """The seed puzzles, [376, 81] int8 (0 = blank), in file order."""
    rows = []
    for line in SEED_FILE.read_text(encoding="utf-8").splitlines():
        text = line.split(",", 1)[0].strip()
        if len(text) == 81 and not text.startswith("#"):
            rows.append([int(c) if c.isdigit() else 0 for c in text])  # digits, "." or "0" for a blank
    return np.array(rows, dtype=np.int8)


def seed_file_sha256() -> str:
    return hashlib.sha256(SEED_FILE.read_bytes()).hexdigest()


def _hamming(grids: np.ndarray) -> np.ndarray:
    return (grids[:, None, :] != grids[None, :, :]).sum(axis=2)


@functools.cache
def families() -> np.ndarray:
    """The family of each seed (0..F-1, numbered by first seed): single linkage over pairs at most FAMILY_CELLS cells
    apart as written. (Distances between canonical arrangements are no measure of vicinity: every canonical form
    starts with its blanks, so unrelated puzzles read alike there.)"""
    seeds = load_seeds()
    near = _hamming(seeds) <= FAMILY_CELLS
    parent = np.arange(len(seeds))

    def root(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = int(parent[x])
        return x

    for a, b in zip(*np.nonzero(near)):
        ra, rb = root(int(a)), root(int(b))
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    roots = np.array([root(i) for i in range(len(seeds))])
    return np.unique(roots, return_inverse=True)[1].astype(np.int64)


def on_test_side(seed: int, test_fraction: float = 0.5) -> np.ndarray:
    """For each seed puzzle, True when its family serves the test split: whole families in a seeded random order
    until ``test_fraction`` of the seeds are taken."""
    family = families()
    order = np.random.default_rng([seed, 5]).permutation(family.max() + 1)
    sizes = np.bincount(family)
    taken = np.cumsum(sizes[order]) <= round(test_fraction * len(family))
    taken[0] = True  # both sides need seeds
    return np.isin(family, order[taken])


def walk_move(puzzle: np.ndarray, tables: SearchTables, rng: np.random.Generator, rate: Rater) -> np.ndarray | None:
    """One {-1+1} move from a flat unique puzzle that keeps it hard, or None when no clue allows one."""
    cells = puzzle.size
    for removed in rng.permutation(np.flatnonzero(puzzle)):
        relaxed = puzzle.copy()
        relaxed[removed] = 0
        found = np.zeros((RELAXED_SOLUTIONS + 1, cells), dtype=np.int8)
        count = min(search(relaxed, tables, limit=RELAXED_SOLUTIONS + 1, solutions=found)[0], RELAXED_SOLUTIONS + 1)
        # How many of the solutions found hold digit d at cell j, for every blank cell other than the one just emptied;
        # where the search stopped early, "once" among those found is only a candidate, checked below.
        held = np.bincount((np.arange(cells) * 10 + found[:count]).ravel(), minlength=cells * 10).reshape(cells, 10)
        held[np.flatnonzero(relaxed)] = 0
        held[removed] = 0
        for pick in rng.permutation(np.flatnonzero(held.ravel() == 1))[:CANDIDATES_PER_REMOVAL]:
            cell, digit = divmod(int(pick), 10)
            moved = relaxed.copy()
            moved[cell] = digit
            if count > RELAXED_SOLUTIONS and search(moved, tables, limit=2)[0] != 1:
                continue
            if rate(moved, rng) >= MIN_RATING:
                return moved
    return None


def walk(start: np.ndarray, tables: SearchTables, rng: np.random.Generator, rate: Rater, moves: int = WALK_MOVES) -> np.ndarray:
    """A flat puzzle ``moves`` moves from ``start`` (fewer where the walk finds no move)."""
    puzzle = np.ascontiguousarray(start, dtype=np.int8).ravel()
    for _ in range(moves):
        moved = walk_move(puzzle, tables, rng, rate)
        if moved is None:
            break
        puzzle = moved
    return puzzle


def extreme_puzzle(starts: np.ndarray, tables: SearchTables, rng: np.random.Generator, rate: Rater) -> tuple[np.ndarray, np.ndarray]:
    """(puzzle, solution) as flat grids in canonical arrangement: a walk from a random one of ``starts`` [k, 81].
    The canonical arrangement makes equal-up-to-symmetry puzzles equal bytes; callers draw the symmetry shown."""
    puzzle = canonical_grid(walk(starts[rng.integers(len(starts))], tables, rng, rate))
    count, solution, *_ = search(puzzle, tables, limit=2)
    assert count == 1, "a walk keeps the solution unique"
    return puzzle, solution
